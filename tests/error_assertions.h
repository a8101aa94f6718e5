// Asserting on calm::Error messages: a bad input must be refused with a
// message that names the file and the tensor, key or line.
#pragma once

#include <QtTest>
#include <functional>
#include <initializer_list>
#include <string>

#include "util/error.h"

namespace calm::testing {

// The message of the calm::Error `f` throws, or "" when it throws none.
inline std::string error_from(const std::function<void()>& f) {
  try {
    f();
  } catch (const calm::Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace calm::testing

// Asserts that `statement` throws calm::Error whose message contains every
// string that follows.
#define VERIFY_ERROR(statement, ...)                                                                   \
  do {                                                                                                 \
    const std::string msg_ = calm::testing::error_from([&] { statement; });                           \
    QVERIFY2(!msg_.empty(), "no calm::Error from: " #statement);                                       \
    for (const std::string& needle_ : std::initializer_list<std::string>{__VA_ARGS__})                \
      QVERIFY2(msg_.find(needle_) != std::string::npos,                                                \
               qPrintable(QString("'%1' not in message: %2").arg(needle_.c_str(), msg_.c_str())));      \
  } while (0)
