#include "common/stop_signal.h"

#include <csignal>

namespace uoe {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void record_stop_signal(int signal_number) { g_signal = signal_number; }

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int received_stop_signal() { return g_signal; }

int stop_exit_code(int signal_number) { return 128 + signal_number; }

}  // namespace uoe
