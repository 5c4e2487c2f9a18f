#include "tokenizer/unicode_regex.h"

#include <limits>
#include <memory>

#include "common/check.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

constexpr int kUnbounded = -1;
constexpr int kMaxRepeat = 1000;
constexpr size_t kMaxProgram = 200000;
constexpr int kMaxNesting = 64;
constexpr const char* kSupported =
    "supported: literals, escapes \\t \\n \\r \\f \\v \\xHH \\x{...} \\uHHHH, . ^ $ \\A \\z, "
    "[...] classes, \\s \\S \\d \\D \\w \\W \\h, \\p{..} \\P{..} general categories, "
    "(...) (?:...) (?i:...) (?=...) (?!...) (?>...), | and the quantifiers * + ? {n,m} "
    "(lazy ?, possessive +)";

struct Node {
  enum class Kind {
    kEmpty,
    kChar,
    kClass,
    kAny,
    kLineStart,
    kLineEnd,
    kTextStart,
    kTextEnd,
    kConcat,
    kAlt,
    kRepeat,
    kLook,
    kAtomic
  };
  Node() = default;
  explicit Node(Kind k) : kind(k) {}
  Kind kind = Kind::kEmpty;
  char32_t c = 0;
  bool fold = false;     // kChar under (?i)
  bool negated = false;  // kLook
  bool greedy = true;    // kRepeat
  int class_id = -1;     // kClass
  int min = 0, max = 0;  // kRepeat (max = kUnbounded for no limit)
  std::vector<Node> children;
};

bool can_be_empty(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kChar:
    case Node::Kind::kClass:
    case Node::Kind::kAny:
      return false;
    case Node::Kind::kConcat:
      for (const auto& c : n.children)
        if (!can_be_empty(c)) return false;
      return true;
    case Node::Kind::kAlt:
      for (const auto& c : n.children)
        if (can_be_empty(c)) return true;
      return false;
    case Node::Kind::kRepeat:
      return n.min == 0 || can_be_empty(n.children[0]);
    case Node::Kind::kAtomic:
      return can_be_empty(n.children[0]);
    default:
      return true;  // empty, anchors, lookahead
  }
}

}  // namespace

// Parses the pattern into a Node tree and compiles it into the instruction list.
class RegexCompiler {
 public:
  RegexCompiler(UnicodeRegex& re, const std::string& pattern) : re_(re), p_(decode_utf8(pattern)) {}

  void compile() {
    Node root = parse_alternation(false);
    if (pos_ != p_.size()) fail("unbalanced ')'");
    emit_node(root);
    emit({UnicodeRegex::Op::kMatch});
  }

 private:
  using Op = UnicodeRegex::Op;
  using Item = UnicodeRegex::ClassItem;

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(str(re_.context_, ": regex '", re_.pattern_, "': ", what, " at character ",
                         pos_, " (", kSupported, ")"));
  }
  bool at_end() const { return pos_ >= p_.size(); }
  char32_t peek() const { return at_end() ? 0 : p_[pos_]; }
  bool accept(char32_t c) {
    if (!at_end() && p_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char32_t next() {
    if (at_end()) fail("unexpected end of pattern");
    return p_[pos_++];
  }

  Node parse_alternation(bool fold) {
    Node alt{Node::Kind::kAlt};
    alt.children.push_back(parse_concat(fold));
    while (accept('|')) alt.children.push_back(parse_concat(fold));
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  Node parse_concat(bool fold) {
    Node seq{Node::Kind::kConcat};
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (peek() == '(' && pos_ + 3 < p_.size() && p_[pos_ + 1] == '?' && p_[pos_ + 2] == 'i' &&
          p_[pos_ + 3] == ')') {
        pos_ += 4;  // (?i): case-insensitive to the end of the enclosing group
        fold = true;
        continue;
      }
      Node atom = parse_atom(fold);
      seq.children.push_back(parse_quantifiers(std::move(atom)));
    }
    if (seq.children.size() == 1) return std::move(seq.children[0]);
    return seq;
  }

  int parse_number() {
    int value = 0;
    bool any = false;
    while (!at_end() && peek() >= '0' && peek() <= '9') {
      value = value * 10 + int(next() - '0');
      if (value > kMaxRepeat) fail("repetition count above 1000");
      any = true;
    }
    return any ? value : -2;
  }

  Node parse_quantifiers(Node atom) {
    while (!at_end()) {
      int min, max;
      const size_t start = pos_;
      if (accept('*')) {
        min = 0;
        max = kUnbounded;
      } else if (accept('+')) {
        min = 1;
        max = kUnbounded;
      } else if (accept('?')) {
        min = 0;
        max = 1;
      } else if (accept('{')) {
        min = parse_number();
        max = min;
        if (accept(',')) {
          max = parse_number();
          if (max == -2) max = kUnbounded;
        }
        if (min == -2 || !accept('}')) {  // not a counted repetition: a literal '{'
          pos_ = start;
          return atom;
        }
        if (max != kUnbounded && max < min) fail("repetition {n,m} with m < n");
      } else {
        return atom;
      }
      if (atom.kind == Node::Kind::kLineStart || atom.kind == Node::Kind::kLineEnd ||
          atom.kind == Node::Kind::kLook || atom.kind == Node::Kind::kEmpty) {
        fail("quantifier without a repeatable expression");
      }
      if (max == kUnbounded && can_be_empty(atom))
        fail("unbounded repetition of an expression that can match empty text");
      Node rep{Node::Kind::kRepeat};
      rep.min = min;
      rep.max = max;
      if (accept('?')) rep.greedy = false;
      const bool possessive = !accept('?') && accept('+');
      rep.children.push_back(std::move(atom));
      if (possessive) {
        Node atomic{Node::Kind::kAtomic};
        atomic.children.push_back(std::move(rep));
        atom = std::move(atomic);
      } else {
        atom = std::move(rep);
      }
    }
    return atom;
  }

  Node class_node(std::vector<Item> items, bool negated) {
    UnicodeRegex::CharClass cls;
    cls.negated = negated;
    cls.items = std::move(items);
    for (char32_t c = 0; c < 128; ++c) {
      if (cls.matches_slow(c)) cls.ascii[c >> 6] |= uint64_t(1) << (c & 63);
    }
    re_.classes_.push_back(std::move(cls));
    Node n{Node::Kind::kClass};
    n.class_id = int(re_.classes_.size()) - 1;
    return n;
  }

  uint32_t parse_hex(size_t digits_min, size_t digits_max, char32_t close) {
    uint32_t value = 0;
    size_t count = 0;
    while (count < digits_max && !at_end()) {
      const char32_t c = peek();
      int d = (c >= '0' && c <= '9')   ? int(c - '0')
              : (c >= 'a' && c <= 'f') ? int(c - 'a' + 10)
              : (c >= 'A' && c <= 'F') ? int(c - 'A' + 10)
                                       : -1;
      if (d < 0) break;
      value = value * 16 + uint32_t(d);
      ++pos_;
      ++count;
    }
    if (count < digits_min) fail("malformed hexadecimal escape");
    if (close != 0 && !accept(close)) fail("unterminated \\x{...} escape");
    if (value > 0x10FFFF) fail("code point above U+10FFFF");
    return value;
  }

  // After a backslash: either a single code point (returned, items untouched) or a class escape
  // (items appended, returns -1).
  int64_t parse_escape(std::vector<Item>& items) {
    const char32_t c = next();
    auto categories = [&](CategoryMask mask, bool negated) {
      Item item{Item::Kind::kCategories, negated};
      item.categories = mask;
      items.push_back(item);
      return int64_t(-1);
    };
    switch (c) {
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      case 'a':
        return 0x07;
      case 'e':
        return 0x1B;
      case 'x':
        return accept('{') ? parse_hex(1, 8, '}') : parse_hex(1, 2, 0);
      case 'u':
        return parse_hex(4, 4, 0);
      case 's':
        items.push_back({Item::Kind::kSpace, false});
        return -1;
      case 'S':
        items.push_back({Item::Kind::kSpace, true});
        return -1;
      case 'd':
        return categories(category_mask("Nd"), false);
      case 'D':
        return categories(category_mask("Nd"), true);
      case 'w':
        items.push_back({Item::Kind::kWord, false});
        return -1;
      case 'W':
        items.push_back({Item::Kind::kWord, true});
        return -1;
      case 'h':
        for (auto [lo, hi] : {std::pair<char32_t, char32_t>{'0', '9'}, {'a', 'f'}, {'A', 'F'}}) {
          items.push_back({Item::Kind::kRange, false, lo, hi});
        }
        return -1;
      case 'p':
      case 'P': {
        if (!accept('{')) fail("\\p needs {Name}");
        bool negated = c == 'P';
        if (accept('^')) negated = !negated;
        std::string name;
        while (!at_end() && peek() != '}') append_utf8(name, next());
        if (!accept('}')) fail("unterminated \\p{...}");
        const CategoryMask mask = category_mask(name.c_str());
        if (mask == 0) fail("unknown or unsupported property \\p{" + name + "}");
        return categories(mask, negated);
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
          std::string s = "unsupported escape \\";
          append_utf8(s, c);
          fail(s);
        }
        return c;  // escaped punctuation or symbol
    }
  }

  Node parse_bracket() {
    std::vector<Item> items;
    const bool negated = accept('^');
    bool first = true;
    while (true) {
      if (at_end()) fail("unterminated [...] class");
      if (peek() == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (peek() == '[') fail("nested or POSIX [...] inside a class is not supported");
      int64_t lo;
      if (accept('\\')) {
        lo = parse_escape(items);
        if (lo < 0) continue;
      } else {
        lo = next();
      }
      int64_t hi = lo;
      if (peek() == '-' && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        if (accept('\\')) {
          hi = parse_escape(items);
          if (hi < 0) fail("class escape as the end of a range");
        } else {
          hi = next();
        }
        if (hi < lo) fail("range out of order in [...]");
      }
      items.push_back({Item::Kind::kRange, false, char32_t(lo), char32_t(hi)});
    }
    return class_node(std::move(items), negated);
  }

  Node parse_group(bool fold) {
    if (++depth_ > kMaxNesting) fail("groups nested more than 64 deep");
    Node::Kind kind = Node::Kind::kConcat;
    bool negated = false;
    if (accept('?')) {
      if (accept(':')) {
      } else if (accept('=')) {
        kind = Node::Kind::kLook;
      } else if (accept('!')) {
        kind = Node::Kind::kLook;
        negated = true;
      } else if (accept('>')) {
        kind = Node::Kind::kAtomic;
      } else if (accept('i')) {
        if (!accept(':')) fail("only the flag groups (?i:...) and (?i) are supported");
        fold = true;
      } else if (peek() == '<') {
        fail("lookbehind and named groups are not supported");
      } else {
        fail("unsupported group (?" + std::string(1, char(peek())) + "...)");
      }
    }
    Node inner = parse_alternation(fold);
    if (!accept(')')) fail("missing ')'");
    --depth_;
    if (kind == Node::Kind::kConcat) return inner;
    Node group{kind};
    group.negated = negated;
    group.children.push_back(std::move(inner));
    return group;
  }

  Node parse_atom(bool fold) {
    const char32_t c = next();
    switch (c) {
      case '(':
        return parse_group(fold);
      case '[':
        if (fold) fail("character classes inside (?i) are not supported");
        return parse_bracket();
      case '.':
        return Node{Node::Kind::kAny};
      case '^':
        return Node{Node::Kind::kLineStart};
      case '$':
        return Node{Node::Kind::kLineEnd};
      case '*':
      case '+':
      case '?':
        fail("quantifier without a repeatable expression");
      case '\\': {
        if (accept('A')) return Node{Node::Kind::kTextStart};
        if (accept('z')) return Node{Node::Kind::kTextEnd};
        std::vector<Item> items;
        const int64_t cp = parse_escape(items);
        if (cp < 0) {
          if (fold) fail("class escapes inside (?i) are not supported");
          return class_node(std::move(items), false);
        }
        return char_node(char32_t(cp), fold);
      }
      default:
        return char_node(c, fold);
    }
  }

  static Node char_node(char32_t c, bool fold) {
    Node n{Node::Kind::kChar};
    n.fold = fold;
    n.c = fold ? case_fold(c) : c;
    return n;
  }

  int32_t emit(UnicodeRegex::Inst inst) {
    if (re_.program_.size() >= kMaxProgram) fail("pattern too large after expanding repetitions");
    re_.program_.push_back(inst);
    return int32_t(re_.program_.size()) - 1;
  }
  int32_t here() const { return int32_t(re_.program_.size()); }

  void emit_sub_program(Op op, const Node& n) {
    UnicodeRegex::Inst inst{op};
    inst.negated = n.negated;
    const int32_t at = emit(inst);
    const int32_t skip = emit({Op::kJmp});
    re_.program_[at].x = here();
    emit_node(n.children[0]);
    emit({Op::kMatch});
    re_.program_[skip].x = here();
  }

  void emit_node(const Node& n) {
    switch (n.kind) {
      case Node::Kind::kEmpty:
        return;
      case Node::Kind::kChar: {
        UnicodeRegex::Inst inst{n.fold ? Op::kCharFold : Op::kChar};
        inst.c = n.c;
        emit(inst);
        return;
      }
      case Node::Kind::kClass: {
        UnicodeRegex::Inst inst{Op::kClass};
        inst.x = n.class_id;
        emit(inst);
        return;
      }
      case Node::Kind::kAny:
        emit({Op::kAny});
        return;
      case Node::Kind::kLineStart:
        emit({Op::kLineStart});
        return;
      case Node::Kind::kLineEnd:
        emit({Op::kLineEnd});
        return;
      case Node::Kind::kTextStart:
        emit({Op::kTextStart});
        return;
      case Node::Kind::kTextEnd:
        emit({Op::kTextEnd});
        return;
      case Node::Kind::kConcat:
        for (const auto& child : n.children) emit_node(child);
        return;
      case Node::Kind::kAlt: {
        std::vector<int32_t> jumps;
        for (size_t i = 0; i < n.children.size(); ++i) {
          if (i + 1 == n.children.size()) {
            emit_node(n.children[i]);
            break;
          }
          const int32_t split = emit({Op::kSplit});
          re_.program_[split].x = here();
          emit_node(n.children[i]);
          jumps.push_back(emit({Op::kJmp}));
          re_.program_[split].y = here();
        }
        for (int32_t j : jumps) re_.program_[j].x = here();
        return;
      }
      case Node::Kind::kRepeat:
        emit_repeat(n);
        return;
      case Node::Kind::kLook:
        emit_sub_program(Op::kLookAhead, n);
        return;
      case Node::Kind::kAtomic:
        emit_sub_program(Op::kAtomic, n);
        return;
    }
  }

  // Points a split at `body` first (greedy) or at `exit` first (lazy).
  void set_choice(int32_t split, int32_t body, int32_t exit, bool greedy) {
    re_.program_[split].x = greedy ? body : exit;
    re_.program_[split].y = greedy ? exit : body;
  }

  void emit_repeat(const Node& n) {
    const Node& body = n.children[0];
    for (int i = 0; i < n.min; ++i) emit_node(body);
    if (n.max == kUnbounded) {
      const int32_t loop = emit({Op::kSplit});
      emit_node(body);
      UnicodeRegex::Inst back{Op::kJmp};
      back.x = loop;
      emit(back);
      set_choice(loop, loop + 1, here(), n.greedy);
      return;
    }
    std::vector<int32_t> choices;
    for (int i = n.min; i < n.max; ++i) {
      choices.push_back(emit({Op::kSplit}));
      emit_node(body);
    }
    for (int32_t split : choices) set_choice(split, split + 1, here(), n.greedy);
  }

  UnicodeRegex& re_;
  std::vector<char32_t> p_;
  size_t pos_ = 0;
  int depth_ = 0;
};

bool UnicodeRegex::CharClass::matches_slow(char32_t cp) const {
  bool any = false;
  for (const auto& item : items) {
    bool hit = false;
    switch (item.kind) {
      case ClassItem::Kind::kRange:
        hit = cp >= item.lo && cp <= item.hi;
        break;
      case ClassItem::Kind::kCategories:
        hit = in_categories(cp, item.categories);
        break;
      case ClassItem::Kind::kSpace:
        hit = is_white_space(cp);
        break;
      case ClassItem::Kind::kWord:
        hit = is_word_char(cp);
        break;
    }
    if (hit != item.negated) {
      any = true;
      break;
    }
  }
  return any != negated;
}

bool UnicodeRegex::CharClass::matches(char32_t cp) const {
  if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
  return matches_slow(cp);
}

UnicodeRegex::UnicodeRegex(const std::string& pattern, const std::string& context)
    : pattern_(pattern), context_(context) {
  UOE_CHECK(find_invalid_utf8(pattern) == std::string::npos, context,
            ": regex pattern is not valid UTF-8");
  RegexCompiler(*this, pattern).compile();
}

UnicodeRegex UnicodeRegex::literal(const std::string& text) {
  UnicodeRegex re;
  re.pattern_ = text;
  re.context_ = "literal pattern";
  for (char32_t c : decode_utf8(text)) {
    Inst inst{Op::kChar};
    inst.c = c;
    re.program_.push_back(inst);
  }
  re.program_.push_back({Op::kMatch});
  return re;
}

bool UnicodeRegex::run(int32_t pc, uint32_t pos, std::u32string_view text, uint32_t& end,
                       int64_t& budget, BacktrackStack& stack) const {
  const size_t base = stack.size();  // entries below belong to the caller (lookahead, atomic)
  const uint32_t n = static_cast<uint32_t>(text.size());
  while (true) {
    if (--budget < 0) {
      UOE_CHECK(false, context_, ": regex '", pattern_,
                "' needs too much backtracking on this input");
    }
    const Inst& in = program_[pc];
    bool ok = true;
    switch (in.op) {
      case Op::kChar:
        ok = pos < n && text[pos] == in.c;
        if (ok) {
          ++pos;
          ++pc;
        }
        break;
      case Op::kCharFold:
        ok = pos < n && case_fold(text[pos]) == in.c;
        if (ok) {
          ++pos;
          ++pc;
        }
        break;
      case Op::kClass:
        ok = pos < n && classes_[in.x].matches(text[pos]);
        if (ok) {
          ++pos;
          ++pc;
        }
        break;
      case Op::kAny:
        ok = pos < n && text[pos] != U'\n';
        if (ok) {
          ++pos;
          ++pc;
        }
        break;
      case Op::kSplit:
        stack.emplace_back(in.y, pos);
        pc = in.x;
        break;
      case Op::kJmp:
        pc = in.x;
        break;
      case Op::kLineStart:
        ok = pos == 0 || text[pos - 1] == U'\n';
        ++pc;
        break;
      case Op::kLineEnd:
        ok = pos == n || text[pos] == U'\n';
        ++pc;
        break;
      case Op::kTextStart:
        ok = pos == 0;
        ++pc;
        break;
      case Op::kTextEnd:
        ok = pos == n;
        ++pc;
        break;
      case Op::kLookAhead: {
        uint32_t sub_end;
        ok = run(in.x, pos, text, sub_end, budget, stack) != in.negated;
        ++pc;
        break;
      }
      case Op::kAtomic: {
        uint32_t sub_end;
        ok = run(in.x, pos, text, sub_end, budget, stack);
        if (ok) pos = sub_end;
        ++pc;
        break;
      }
      case Op::kMatch:
        end = pos;
        stack.resize(base);
        return true;
    }
    if (!ok) {
      if (stack.size() == base) return false;
      pc = stack.back().first;
      pos = stack.back().second;
      stack.pop_back();
    }
  }
}

void UnicodeRegex::find_all(std::u32string_view text,
                            std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  out.clear();
  int64_t budget = 1000000 + 1000 * int64_t(text.size());
  thread_local BacktrackStack stack;
  const uint32_t n = static_cast<uint32_t>(text.size());
  for (uint32_t start = 0; start < n;) {
    uint32_t end;
    if (run(0, start, text, end, budget, stack) && end > start) {
      out.emplace_back(start, end);
      start = end;
    } else {
      ++start;
    }
  }
}

}  // namespace uoe
