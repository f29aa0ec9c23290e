// The error strings the shim's C functions return to Go.
#pragma once

#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <exception>

// vp_error_copy returns a malloc'd copy of e's message (without libtorch's
// C++ backtrace), which the Go side reads and frees.
inline char *vp_error_copy(const std::exception &e) {
  const char *msg = e.what();
  if (auto c = dynamic_cast<const c10::Error *>(&e)) {
    msg = c->what_without_backtrace();
  }
  char *s = static_cast<char *>(std::malloc(std::strlen(msg) + 1));
  std::strcpy(s, msg);
  return s;
}
