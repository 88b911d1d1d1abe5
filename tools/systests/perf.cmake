# KVM's dirty_log_perf_test as guests (docs/perf.md): the control guest dlpt
# drives the memstress guest's vCPUs through populate, logging on, the
# iterations (dirty memory, get and clear the log) and logging off, and
# prints KVM's table. Included from CMakeLists.txt beside this file.

# Manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 without initially-set),
# 2 vCPUs on CPUs 1-2, 8 MiB each, 2 iterations: every get must report
# exactly the 2048 pages each vCPU wrote in that iteration (a pass that was
# not logged, or a clear that did not re-protect, comes out short), then
# dlpt stops the memstress guest and exits 0. (The test memory's range is
# matched with '.' for its brackets: an unbalanced '[' would join CMake's
# list elements.)
hv_system_test(dlpt-2vcpus-manual bochs --timeout 120 --smp 4 --mem 256
  --guest memstress:vcpus=2,cpus=1-2,expect=stopped
  --guest dlpt:role=control,target=0,cpu=0,mib=8,iterations=2,log=manual
  --expect "^\\[memstress\\] memstress: 2 vCPUs, mailbox at 0x3000"
  --expect "^\\[dlpt\\] dlpt: guest 0: 2 vCPUs, 8 MiB each, guest physical test memory .0x40000000, 0x41000000. in slot 1, log=manual, 2 iterations"
  --expect "^\\[dlpt\\] dlpt: Populate memory time: [0-9]+ us \\([0-9]+ cycles\\)"
  --expect "^\\[dlpt\\] dlpt: Enabling dirty logging time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: after enabling: 8 splits, slot mapped by 4096 4K, "
  --expect "^\\[dlpt\\] dlpt: Iteration 1 dirty memory time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 1 get dirty log time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 1 clear dirty log time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 1 dirty pages: 4096 of the 4096 written \\(vCPU 0 2048, vCPU 1 2048\\)"
  --expect "^\\[dlpt\\] dlpt: Iteration 2 dirty memory time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 2 get dirty log time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 2 clear dirty log time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Iteration 2 vCPU faults: 0 slow, 4096 fast, "
  --expect "^\\[dlpt\\] dlpt: Iteration 2 dirty pages: 4096 of the 4096 written \\(vCPU 0 2048, vCPU 1 2048\\)"
  --expect "^\\[dlpt\\] dlpt: Disabling dirty logging time: [0-9]+ us"
  --expect "^\\[dlpt\\] dlpt: Get dirty log over 2 iterations took [0-9]+ us\\. \\(Avg [0-9]+ us/iteration\\)"
  --expect "^\\[dlpt\\] dlpt: Clear dirty log over 2 iterations took [0-9]+ us\\. \\(Avg [0-9]+ us/iteration\\)"
  --expect "^\\[dlpt\\] dlpt: vCPU 1 dirtied memory at [0-9]+ us/iteration"
  --expect "^\\[dlpt\\] dlpt: PASS"
  --expect "^PASS: dlpt: outcome exit"
  --expect "^PASS: memstress: outcome stopped"
  --reject "dlpt: FAIL")
