#pragma once
// Graceful stop on SIGTERM / SIGUSR1 (Slurm preemption, `scancel --signal`, a time limit warning
// from `#SBATCH --signal=TERM@120`): the handler only records the signal; the training loops ask
// at each step boundary, agree over the world, write a last checkpoint and leave.
namespace uoe {

// Installs the handlers (idempotent). Called once at start-up by every rank.
void install_stop_signal_handlers();

// The signal received since start-up, or 0.
int received_stop_signal();

// Exit code of a run that stopped on a signal after writing its checkpoint: 128 + signal, the
// shell convention for "terminated by a signal".
int stop_exit_code(int signal_number);

}  // namespace uoe
