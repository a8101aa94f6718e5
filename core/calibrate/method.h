// How lambda is chosen from the calibration losses, and what that promises.
//
// Two procedures, with two different guarantees:
//   * Learn then Test (Angelopoulos et al. 2021) with one of four p-values
//     (hb, hoeffding, bentkus, wsr): with probability at least 1 - epsilon
//     over the draw of the calibration set, the expected loss at the chosen
//     lambda over new inputs is at most delta;
//   * conformal risk control (crc; Angelopoulos, Bates, Fisch, Lei, Schuster
//     2022): the expected loss at the chosen lambda on a new input is at most
//     delta, the expectation taken over the calibration draw and the new input
//     together (no epsilon), for losses non-increasing in lambda.
#pragma once

#include <string>
#include <string_view>

#include "calibrate/pvalues.h"

namespace calm {

// The first four are PValueMethod's, in its order (settings store the number).
enum class CalibrationMethod { Hoeffding, Bentkus, HoeffdingBentkus, Wsr, Crc };

// "hb" (also "hoeffding-bentkus"), "hoeffding", "bentkus", "wsr", "crc"; throws calm::Error otherwise.
CalibrationMethod parse_calibration_method(std::string_view name);
const char* calibration_method_name(CalibrationMethod method);  // "hb", "hoeffding", "bentkus", "wsr", "crc"

// Learn then Test (every method but crc): its guarantee involves epsilon.
bool is_learn_then_test(CalibrationMethod method);
CalibrationMethod calibration_method(PValueMethod method);
// The p-value of a Learn-then-Test method; throws calm::Error for crc.
PValueMethod pvalue_method_of(CalibrationMethod method);

// What the method promises, in one sentence with delta and epsilon as words
// (the same sentence the app and docs/user-guide.md show).
std::string method_guarantee(CalibrationMethod method);

}  // namespace calm
