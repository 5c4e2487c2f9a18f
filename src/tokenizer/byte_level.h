#pragma once
// GPT-2's byte-level alphabet: every byte maps to a printable code point (printable Latin-1 bytes
// to themselves, the rest to U+0100 and up, in byte order), so that byte-level BPE vocabularies
// are JSON text.
#include <string>
#include <string_view>

namespace uoe {

// UTF-8 text -> one alphabet character per byte.
std::string bytes_to_alphabet(std::string_view bytes);
// The inverse for a token: its bytes when every character belongs to the alphabet, else the
// token's own UTF-8 bytes unchanged (as HF's ByteLevel decoder does for added tokens).
std::string alphabet_to_bytes(std::string_view token);

}  // namespace uoe
