#include "calibrate/method.h"

#include "util/error.h"

namespace calm {

CalibrationMethod parse_calibration_method(std::string_view name) {
  if (name == "crc") return CalibrationMethod::Crc;
  if (name == "hb" || name == "hoeffding-bentkus" || name == "hoeffding" || name == "bentkus" || name == "wsr")
    return calibration_method(parse_pvalue_method(name));
  throw Error("unknown calibration method '" + std::string(name) +
              "' (expected hb, hoeffding, bentkus, wsr or crc)");
}

const char* calibration_method_name(CalibrationMethod method) {
  return method == CalibrationMethod::Crc ? "crc" : pvalue_method_name(pvalue_method_of(method));
}

bool is_learn_then_test(CalibrationMethod method) { return method != CalibrationMethod::Crc; }

CalibrationMethod calibration_method(PValueMethod method) {
  switch (method) {
    case PValueMethod::Hoeffding: return CalibrationMethod::Hoeffding;
    case PValueMethod::Bentkus: return CalibrationMethod::Bentkus;
    case PValueMethod::HoeffdingBentkus: return CalibrationMethod::HoeffdingBentkus;
    case PValueMethod::Wsr: return CalibrationMethod::Wsr;
  }
  throw Error("unknown p-value method");
}

PValueMethod pvalue_method_of(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::Hoeffding: return PValueMethod::Hoeffding;
    case CalibrationMethod::Bentkus: return PValueMethod::Bentkus;
    case CalibrationMethod::HoeffdingBentkus: return PValueMethod::HoeffdingBentkus;
    case CalibrationMethod::Wsr: return PValueMethod::Wsr;
    case CalibrationMethod::Crc: break;
  }
  throw Error("conformal risk control (crc) is not a Learn-then-Test p-value");
}

std::string method_guarantee(CalibrationMethod method) {
  if (method == CalibrationMethod::Crc)
    return "Conformal risk control: the expected loss at the chosen lambda on a new input is at most delta, the "
           "expectation taken over the draw of the calibration set and the new input together (no epsilon), for "
           "losses that never fall as lambda falls (where the losses are not monotone, their monotone envelope "
           "is bounded instead, which is never below them).";
  return "Learn then Test (" + std::string(calibration_method_name(method)) +
         "): with probability at least 1 - epsilon over the draw of the calibration set, the expected loss at "
         "the chosen lambda over new inputs is at most delta.";
}

}  // namespace calm
