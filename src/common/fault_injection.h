#pragma once
// Fault injection for the reliability tests. UOE_INJECT_FAULT=<action>:<point>@<step>[@<rank>]
// makes the process fail when it reaches <point> at optimizer step <step> (on every rank, or only
// on <rank>). Actions: "kill" (SIGKILL to itself, like a node failure), "throw" (an exception,
// like a bug on one rank) and "hang" (sleeps forever, like a stuck process; the others then wait
// in their next collective until the collective watchdog, `ddp_timeout`, ends them). Points: "step"
// (end of a step), "checkpoint_write" (this rank wrote its part of a checkpoint, the checkpoint is
// not complete yet). Unset in normal runs, where fault_point() costs a getenv.
#include <cstdint>

namespace uoe {

void fault_point(const char* point, int64_t step, int rank);

}  // namespace uoe
