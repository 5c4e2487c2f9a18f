#pragma once
// LeakSanitizer hooks for the places where uoe hands control to libraries that keep their state
// until exit (OpenMPI). No-ops unless uoe is built with AddressSanitizer (UOE_SANITIZE).
#if defined(__SANITIZE_ADDRESS__)
#define UOE_LEAK_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UOE_LEAK_SANITIZER 1
#endif
#endif
#ifdef UOE_LEAK_SANITIZER
#include <sanitizer/lsan_interface.h>
#endif

namespace uoe {

// While one exists, what this thread allocates is never reported as leaked.
class LeakCheckPause {
 public:
#ifdef UOE_LEAK_SANITIZER
  LeakCheckPause() { __lsan_disable(); }
  ~LeakCheckPause() { __lsan_enable(); }
#else
  LeakCheckPause() {}  // user-provided: a const instance needs it
#endif
  LeakCheckPause(const LeakCheckPause&) = delete;
  LeakCheckPause& operator=(const LeakCheckPause&) = delete;
};

// Runs the leak check now instead of at exit (the process fails if something leaked).
inline void check_leaks_now() {
#ifdef UOE_LEAK_SANITIZER
  __lsan_do_leak_check();
#endif
}

}  // namespace uoe
