/*
 * The rmap protocol of mm/rmap.* (seed 001's pte_list, seed 000's nulls
 * walker) with type-stable descriptors and epoch-deferred page freeing.
 *
 * Processes: 2 lockless walkers of head 1, 1 writer (the MMU lock holder:
 * adds and forward-move removals on heads 1 and 2, descriptor free to the
 * type-stable cache and reuse, retirement of cached descriptors), and a
 * reclaimer that returns a retired descriptor's page to the platform only
 * after every walker has passed a quiescent state (outside its read section).
 *
 * Properties (assertions):
 *  - a walk sees the SPTE S that stays in head 1 for the whole run;
 *  - no walker reads a descriptor whose page went back to the platform;
 *  - the reclaimer's grace periods complete (no invalid end state).
 * Spin explores interleavings under sequential consistency; each shared
 * store below is one step, as the C++ stores are. The C++ acquire/release
 * choices are argued in the code and checked with ThreadSanitizer.
 *
 * -DNO_DESC_GEN: nulls without the descriptor generation check. Spin finds
 * the same-head reuse miss described in mm/rmap.h (our bug, found here).
 *
 * -DBUGGY_REMOVAL: patch 07 as posted, whose walker scanned a descriptor
 * upwards, so the move of first_desc[last_used] into a hole i < last_used is
 * backward (the reviewer's bug 2 in seed 001). Spin must find a violation.
 */
#define EXT 2   /* entries per descriptor (the C++ has 6; 2 shows every case) */
#ifndef WALKERS
#define WALKERS 2
#endif
#ifndef NOPS
#define NOPS 3   /* writer operations; 3 suffice for both known bugs */
#endif
#define NDESC 3
#define NULLS(h) (10 + (h))
#define DESC(d) (20 + (d))
#define IS_NULLS(m) ((m) >= 10 && (m) < 20)
/* descriptor states */
#define CACHED 0     /* free in the type-stable cache: contents kept */
#define USED 1
#define RETIRED 2    /* out of the cache, waiting for a grace period */
#define PLATFORM 3   /* page returned: reading it is a use-after-free */

byte ds[NDESC * EXT];
byte more[NDESC];
byte dstate[NDESC];
byte dgen[NDESC];    /* PteListDesc::gen: a seqcount, odd while a reuse writes it */
byte head[3];        /* heads 1 and 2: 0, an SPTE 1..5, or DESC(d) */
byte where[6];       /* which head holds SPTE x (0: none) */
byte S;              /* the SPTE that stays in head 1 */
bool inrs[2];        /* walker w is inside its read section */
byte walks_done;

inline alloc_desc(d) {
  d = 255;
  if
  :: dstate[0] == CACHED -> d = 0
  :: dstate[1] == CACHED -> d = 1
  :: dstate[2] == CACHED -> d = 2
  :: else ->
     if
     :: dstate[0] == PLATFORM -> d = 0
     :: dstate[1] == PLATFORM -> d = 1
     :: dstate[2] == PLATFORM -> d = 2
     :: else -> skip
     fi;
     if
     :: d != 255 -> d_step { ds[d*EXT] = 0; ds[d*EXT+1] = 0; more[d] = 0 } /* fresh zeroed page */
     :: else -> skip
     fi
  fi;
  if :: d != 255 -> dgen[d]++; dstate[d] = USED :: else -> skip fi   /* gen odd: being written */
}
#define DESC_READY(d) dgen[d]++                                        /* gen even: done */

/* add SPTE x to head h (writer; x in no head) */
inline add(h, x) {
  v = head[h];
  if
  :: v == 0 -> head[h] = x
  :: v > 0 && v < 10 ->
     alloc_desc(d);
     if
     :: d != 255 ->
        more[d] = NULLS(h);   /* more first: see Rmap::new_desc */
        ds[d*EXT] = v; ds[d*EXT+1] = x;
        DESC_READY(d);
        head[h] = DESC(d)
     :: else -> goto skipadd
     fi
  :: v >= 20 ->
     f = v - 20;
     if
     :: ds[f*EXT + EXT - 1] != 0 ->
        alloc_desc(d);
        if
        :: d != 255 ->
           more[d] = DESC(f);
           ds[d*EXT] = x; ds[d*EXT+1] = 0;
           DESC_READY(d);
           head[h] = DESC(d)
        :: else -> goto skipadd
        fi
     :: else ->
        ds[f*EXT+1] = x   /* the first descriptor is never empty */
     fi
  fi;
  where[x] = h;
skipadd: skip
}

/* forward-move removal of SPTE x from head h (writer) */
inline remove(h, x) {
  v = head[h];
  if
  :: v == x -> head[h] = 0
  :: v >= 20 ->
     f = v - 20;
     /* find (d, i) */
     d = f;
     do
     :: ds[d*EXT] == x -> i = 0; break
     :: ds[d*EXT+1] == x -> i = 1; break
     :: else -> assert(!IS_NULLS(more[d])); d = more[d] - 20
     od;
     /* last used in the first descriptor */
     if
     :: ds[f*EXT+1] != 0 -> last = 1
     :: else -> last = 0
     fi;
     moved = ds[f*EXT + last];
     if
     :: !(d == f && i == last) -> ds[d*EXT + i] = moved   /* copy first ... */
     :: else -> skip
     fi;
     ds[f*EXT + last] = 0;                               /* ... then clear */
     if
     :: last == 0 -> head[h] = more[f]; dgen[f] = dgen[f] + 2; dstate[f] = CACHED
     :: last == 1 && IS_NULLS(more[f]) -> head[h] = ds[f*EXT]; dgen[f] = dgen[f] + 2; dstate[f] = CACHED
     :: else -> skip
     fi
  fi;
  where[x] = 0
}

proctype writer() {
  byte v, d, f, i, last, moved, x, n;
  do
  :: n < NOPS ->
     n++;
     if
     :: select(x : 1 .. 5);
        if
        :: where[x] == 1 && x != S -> remove(1, x)
        :: where[x] == 2 -> remove(2, x)
        :: where[x] == 0 -> add(1, x)
        :: where[x] == 0 -> add(2, x)
        :: else -> skip
        fi;
        d_step { v = 0; d = 0; f = 0; i = 0; last = 0; moved = 0; x = 0 }
     :: /* the cache retires a completely free descriptor page */
        if
        :: dstate[0] == CACHED -> dstate[0] = RETIRED
        :: dstate[1] == CACHED -> dstate[1] = RETIRED
        :: dstate[2] == CACHED -> dstate[2] = RETIRED
        :: else -> skip
        fi
     fi
  :: else -> break
  od
}

/* Lockless walk of head 1: Rmap::walk_lockless. */
#ifdef BUGGY_REMOVAL
#define SLOT(k) (k)             /* patch 07 as posted: upwards */
#else
#define SLOT(k) (EXT - 1 - (k)) /* the v2 fix: top-down */
#endif

/* read entry SLOT(k) of d: one shared access, so one atomic step */
#define SCAN(k) atomic { assert(dstate[d] != PLATFORM); seen = seen || (ds[d*EXT + SLOT(k)] == S) }

proctype walker(bit w) {
  byte v, d, m, g;
  bool seen;
  inrs[w] = 1;
restart:
  atomic { seen = 0; v = head[1]; d = 0; m = 0; g = 0 }
  if
  :: v == 0 -> goto out
  :: v > 0 && v < 10 -> atomic { seen = (v == S); v = 0 }; goto out
  :: v >= 20 -> atomic { d = v - 20; v = 0 }
  fi;
  do
  :: g = dgen[d];
#ifndef NO_DESC_GEN
     if
     :: g % 2 == 1 -> goto restart   /* being rewritten for a reuse */
     :: else -> skip
     fi;
#endif
     SCAN(0); SCAN(1);
     atomic { assert(dstate[d] != PLATFORM); m = more[d] }
#ifndef NO_DESC_GEN
     if
     :: dgen[d] != g -> goto restart  /* freed or reused under us */
     :: else -> g = 0
     fi;
#endif
     if
     :: m == NULLS(1) -> goto out
     :: IS_NULLS(m) || m == 0 -> goto restart   /* another head's nulls */
     :: m >= 20 -> atomic { d = m - 20; m = 0 }
     fi
  od;
out:
  assert(seen);  /* S was in head 1 for the whole walk */
  atomic { inrs[w] = 0; walks_done++; d = 0; m = 0; g = 0 }   /* quiescent state */
}

/* Frees retired descriptor pages after a grace period: each walker has been
 * seen outside its read section after the retirement. */
proctype reclaimer() {
  byte d;
  do
  :: if
     :: dstate[0] == RETIRED -> d = 0
     :: dstate[1] == RETIRED -> d = 1
     :: dstate[2] == RETIRED -> d = 2
     fi;
     (inrs[0] == 0);   /* grace period: walker 0 passed a quiescent state */
     (inrs[1] == 0);   /* ... and walker 1 */
     dstate[d] = PLATFORM
  :: walks_done == 2 -> break
  od
}

init {
  byte v, d, f, i, last, moved, x;
  atomic {
    dstate[0] = CACHED; dstate[1] = CACHED; dstate[2] = CACHED;
    add(1, 1); add(1, 2); add(1, 3); add(2, 4);   /* head 1: D1[3] -> D0[1,2] */
    select(S : 1 .. 3);
    run writer();
    run walker(0);
#if WALKERS == 2
    run walker(1);
#else
    walks_done++;
#endif
    run reclaimer()
  }
}
