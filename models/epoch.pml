/*
 * The epochs of mm/epoch.* (quiescent-state-based RCU): 2 readers, 1 updater
 * that publishes a new object and queues the old one with call(), and a
 * reclaimer running poll(): start the grace period, compute completed() with
 * one shared read per step (as the C++ loop over CPUs does), free the object
 * when the grace period is complete.
 *
 * Readers take read sections, report quiescent states, go idle (offline:
 * extended QS) and come back online with the two-step store of ordering
 * step 4 (qs = 0, then qs = gp).
 *
 * Properties:
 *  - no object is freed while a reader inside a read section holds it;
 *  - once every reader is done (offline), a pending grace period completes;
 *  - no invalid end state (nobody waits forever).
 * -DBUGGY_TARGET: call() waits for the grace period already running instead
 * of the next one; Spin must find a reader holding a freed object.
 * Spin explores interleavings under sequential consistency; the C++
 * orderings (release/acquire, the seq_cst Dekker pair of step 4) are argued
 * in mm/epoch.h and exercised by the ThreadSanitizer stress test.
 */
#define OFFLINE 255
#ifndef ROUNDS
#define ROUNDS 3
#endif
#ifndef UPDATES
#define UPDATES 3
#endif

byte gp = 0;           /* gp_seq_: last grace period started */
byte qs[2];            /* per-CPU qs_ */
byte done_hw = 0;      /* done_hw_: highest GP seen complete */
byte cur = 1;          /* the published object */
byte ostate[4];        /* 0 free (page returned), 1 live, 2 retired (waiting) */
bool inrs[2];
byte target = 0;       /* the pending callback's grace period */
byte victim = 0;       /* the object it frees */
bool pending = 0, need_gp = 0;
byte readers_done = 0;
bool updater_done = 0;

proctype reader(bit r) {
  byte o, n, t;
  atomic { qs[r] = 0 }          /* cpu_online(): step 4 */
  t = gp; qs[r] = t; t = 0;
  do
  :: n < ROUNDS ->
     n++;
     if
     :: inrs[r] = 1;            /* read_lock() */
        o = cur;
        assert(ostate[o] != 0); /* never freed under us ... */
        assert(ostate[o] != 0); /* ... for the whole section */
        atomic { inrs[r] = 0; o = 0 }   /* read_unlock() */
     :: t = gp; qs[r] = t; t = 0        /* quiescent_state() */
     :: qs[r] = OFFLINE;                /* cpu_offline(): idle */
        qs[r] = 0;                      /* cpu_online() */
        t = gp; qs[r] = t; t = 0
     fi
  :: else -> break
  od;
  qs[r] = OFFLINE;
  readers_done++
}

proctype updater() {
  byte k, nw, old;
  do
  :: k < UPDATES ->
     k++;
     (!pending);                         /* one callback in flight (bound 1: back-pressure) */
     if
     :: ostate[1] == 0 && cur != 1 -> nw = 1
     :: ostate[2] == 0 && cur != 2 -> nw = 2
     :: ostate[3] == 0 && cur != 3 -> nw = 3
     fi;
     ostate[nw] = 1;
     old = cur;
     cur = nw;                           /* unlink the old object */
#ifdef BUGGY_TARGET
     atomic { ostate[old] = 2; victim = old; target = gp; need_gp = 1; pending = 1 }      /* waits for a GP that may predate the unlink */
#else
     atomic { ostate[old] = 2; victim = old; target = gp + 1; need_gp = 1; pending = 1 }  /* call() */
#endif
     nw = 0; old = 0
  :: else -> break
  od;
  updater_done = 1
}

proctype reclaimer() {
  byte m, q, rd;
  do
  :: pending ->
     rd = readers_done;   /* every reader gone before this check started? */
     if :: need_gp -> atomic { gp++; need_gp = 0 } :: else -> skip fi;  /* poll() starts the GP */
     /* completed(): cap, then one qs read per step, then the high-water mark */
     m = gp;
     q = qs[0]; if :: q < m -> m = q :: else -> skip fi;
     q = qs[1]; if :: q < m -> m = q :: else -> skip fi;
     if :: m > done_hw -> done_hw = m :: else -> m = done_hw fi;
     if
     :: m >= target -> atomic { ostate[victim] = 0; pending = 0; victim = 0 }   /* the callback frees */
     :: else -> assert(rd < 2)   /* with every reader gone the GP must be complete */
     fi;
     m = 0; q = 0; rd = 0
  :: !pending && updater_done -> break
  od
}

init {
  atomic {
    qs[0] = OFFLINE; qs[1] = OFFLINE;
    ostate[1] = 1;
    run reader(0);
    run reader(1);
    run updater();
    run reclaimer()
  }
}
