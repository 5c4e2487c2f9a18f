#pragma once
// Unicode canonical normalization forms NFD and NFC (UAX #15) of UTF-8 text, with the tables of
// tokenizer/unicode_tables.cpp (normalization data of Unicode 9.0, as HF tokenizers).
#include <string>
#include <string_view>

namespace uoe {

std::string to_nfd(std::string_view text);
std::string to_nfc(std::string_view text);

}  // namespace uoe
