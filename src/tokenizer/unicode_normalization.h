#pragma once
// Unicode canonical normalization forms NFD and NFC (UAX #15) of UTF-8 text, with the tables of
// io/unicode_tables.cpp (the Unicode version of the generating Python).
#include <string>
#include <string_view>

namespace uoe {

std::string to_nfd(std::string_view text);
std::string to_nfc(std::string_view text);

}  // namespace uoe
