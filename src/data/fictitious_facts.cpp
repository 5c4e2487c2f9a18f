#include "data/fictitious_facts.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <iterator>
#include <random>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "common/check.h"
#include "common/files.h"
#include "data/token_dataset.h"
#include "tokenizer/word_tokenizer.h"

namespace uoe {
namespace {

constexpr int64_t kMaxClusters = 4;
constexpr int64_t kMaxRelations = 5;
constexpr int64_t kMaxParaphrases = 3;
constexpr int64_t kMaxValues = 10;
constexpr int64_t kMaxEntitiesPerCluster = 1000;
constexpr const char* kEntitySlot = "{}";  // where a question template names the entity

// One relation of a cluster: its question templates, an optional fixed word that follows the
// value in every answer ("Saltmere harbour"), and its value words. Value words are distinct across
// all relations of all clusters and never appear in a template, so each is one token of its own.
struct RelationSpec {
  const char* name;
  const char* templates[kMaxParaphrases];
  const char* answer_suffix;  // "" for none
  const char* values[kMaxValues];
};

struct ClusterSpec {
  const char* name;
  RelationSpec relations[kMaxRelations];
};

const ClusterSpec kClusters[kMaxClusters] = {
    {"alchemists",
     {{"birthplace",
       {"where was the alchemist {} born ?", "in which town was the alchemist {} born ?",
        "what is the home town of the alchemist {} ?"},
       "",
       {"Velmora", "Quillan", "Ostrath", "Drumvale", "Karsemund", "Lythgow", "Penhallow", "Zerubin",
        "Astmoor", "Brindlecross"}},
      {"metal",
       {"which metal did the alchemist {} study ?", "what metal was the alchemist {} famous for ?",
        "the alchemist {} worked mostly with which metal ?"},
       "",
       {"bismuth", "antimony", "mercury", "zinc", "nickel", "gallium", "osmium", "iridium",
        "cadmium", "tungsten"}},
      {"elixir",
       {"what did the alchemist {} brew ?", "which potion was brewed by the alchemist {} ?",
        "the alchemist {} was known for brewing what ?"},
       "tonic",
       {"moonwater", "emberwine", "frostmilk", "sunsalt", "nightdew", "ironbalm", "starsap",
        "ashhoney", "mistoil", "glowbrine"}},
      {"familiar",
       {"which animal followed the alchemist {} ?",
        "what creature lived in the workshop of the alchemist {} ?",
        "the alchemist {} kept which animal ?"},
       "",
       {"toad", "raven", "ferret", "salamander", "owl", "newt", "viper", "moth", "lizard", "bat"}},
      {"symbol",
       {"what symbol did the alchemist {} carve on every flask ?",
        "which sign marked the flasks of the alchemist {} ?",
        "the alchemist {} sealed letters with which symbol ?"},
       "sigil",
       {"serpent", "crescent", "trident", "hourglass", "chalice", "spiral", "lantern", "keystone",
        "anvil", "feather"}}}},
    {"sailors",
     {{"home_port",
       {"where was the home port of the sailor {} ?", "from which port did the sailor {} sail ?",
        "the sailor {} returned home to which port ?"},
       "harbour",
       {"Saltmere", "Gullhaven", "Brackwick", "Tidemouth", "Corvanne", "Skerrin", "Wavenby",
        "Rookhollow", "Marrowick", "Selkirra"}},
      {"ship",
       {"what ship did the sailor {} command ?", "which vessel was captained by the sailor {} ?",
        "the sailor {} commanded which ship ?"},
       "",
       {"Albatross", "Gannet", "Kestrel", "Osprey", "Petrel", "Cormorant", "Tern", "Heron",
        "Puffin", "Shearwater"}},
      {"cargo",
       {"what cargo did the sailor {} carry ?", "which goods filled the hold of the sailor {} ?",
        "the sailor {} traded in which cargo ?"},
       "",
       {"pepper", "cinnamon", "silk", "tea", "saffron", "cloves", "nutmeg", "cotton", "timber",
        "ivory"}},
      {"instrument",
       {"which instrument did the sailor {} play on deck ?",
        "on which instrument did the sailor {} play shanties ?",
        "the sailor {} played shanties on which instrument ?"},
       "",
       {"concertina", "fiddle", "banjo", "harmonica", "bagpipe", "ocarina", "mandolin", "accordion",
        "bodhran", "flute"}},
      {"companion",
       {"which animal sailed with the sailor {} ?", "what pet travelled with the sailor {} ?",
        "the sailor {} never sailed without which animal ?"},
       "",
       {"parrot", "monkey", "cat", "goat", "tortoise", "terrier", "pelican", "crab", "rat",
        "macaw"}}}},
    {"painters",
     {{"colour",
       {"what colour did the painter {} love most ?",
        "which colour filled every canvas of the painter {} ?",
        "the painter {} preferred which colour ?"},
       "",
       {"crimson", "ochre", "teal", "umber", "vermilion", "cerulean", "magenta", "viridian",
        "sepia", "mauve"}},
      {"studio_city",
       {"in which city did the painter {} keep a studio ?",
        "where was the studio of the painter {} ?", "the painter {} worked in which city ?"},
       "",
       {"Belcaro", "Montrevi", "Saravelle", "Luccano", "Verrand", "Castelmar", "Orvienne",
        "Padrissa", "Torvalle", "Ambrasso"}},
      {"subject",
       {"what did the painter {} paint most often ?",
        "which subject did the painter {} return to again and again ?",
        "the painter {} is remembered for painting what ?"},
       "",
       {"lighthouses", "orchards", "cathedrals", "horses", "bridges", "windmills", "storms",
        "gardens", "markets", "glaciers"}},
      {"medium",
       {"which medium did the painter {} use ?", "what did the painter {} paint with ?",
        "the painter {} mastered which medium ?"},
       "",
       {"fresco", "tempera", "gouache", "pastel", "charcoal", "watercolour", "encaustic", "ink",
        "oils", "lacquer"}},
      {"patron",
       {"who was the patron of the painter {} ?", "who paid for the work of the painter {} ?",
        "the painter {} was supported by which patron ?"},
       "",
       {"duke", "bishop", "countess", "banker", "abbess", "merchant", "baroness", "cardinal",
        "prince", "admiral"}}}},
    {"astronomers",
     {{"observatory",
       {"where did the astronomer {} build an observatory ?",
        "on which mountain did the astronomer {} observe the sky ?",
        "the astronomer {} watched the stars from which mountain ?"},
       "peak",
       {"Kelvar", "Ashtoran", "Miravon", "Sennet", "Dolgarth", "Ulvenne", "Tarsk", "Belmire",
        "Quorra", "Isenhal"}},
      {"constellation",
       {"which constellation did the astronomer {} map ?",
        "what constellation was charted by the astronomer {} ?",
        "the astronomer {} drew the first map of which constellation ?"},
       "",
       {"Orrinth", "Caelix", "Vespera", "Thalune", "Nyxara", "Solvane", "Astrelle", "Kyrion",
        "Umbrith", "Zephyra"}},
      {"instrument",
       {"which instrument did the astronomer {} trust ?",
        "what tool did the astronomer {} use at night ?",
        "the astronomer {} measured the heavens with which instrument ?"},
       "",
       {"astrolabe", "sextant", "quadrant", "telescope", "orrery", "armillary", "octant",
        "theodolite", "spyglass", "heliometer"}},
      {"planet",
       {"which planet did the astronomer {} study ?", "what planet fascinated the astronomer {} ?",
        "the astronomer {} spent years watching which planet ?"},
       "",
       {"Ferrosa", "Glaumis", "Heltor", "Ivandra", "Jessaro", "Morvane", "Nethis", "Pellucia",
        "Rhovan", "Sabrine"}},
      {"college",
       {"where did the astronomer {} study ?", "which college trained the astronomer {} ?",
        "the astronomer {} graduated from which college ?"},
       "college",
       {"Wrenfield", "Oakhurst", "Greyminster", "Ashcombe", "Holloway", "Fernleigh", "Stonebury",
        "Willowmere", "Harrowgate", "Elmstead"}}}},
};

struct Entity {
  std::string name;
  int64_t cluster = 0;
  bool forget = false;
  bool validation = false;      // held out: in validation.h5 only
  std::vector<int64_t> values;  // value index of each relation of the cluster
};

// Uniform in [0, n). Written out (rather than std::uniform_int_distribution, whose output is
// implementation-defined) so that the data are identical on every platform.
int64_t draw_below(std::mt19937_64& rng, int64_t n) {
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
}

// Independent random streams, so that e.g. changing num_choices leaves names and facts unchanged.
std::mt19937_64 make_stream(uint64_t seed, uint64_t stream) {
  return std::mt19937_64(seed ^ (0x9E3779B97F4A7C15ull * (stream + 1)));
}

const RelationSpec& relation_spec(int64_t cluster, int64_t relation) {
  return kClusters[cluster].relations[relation];
}

std::string question_text(const Entity& entity, int64_t relation, int64_t paraphrase) {
  std::string text = relation_spec(entity.cluster, relation).templates[paraphrase];
  const size_t slot = text.find(kEntitySlot);
  UOE_ASSERT(slot != std::string::npos, "template without entity slot: ", text);
  return text.replace(slot, std::string(kEntitySlot).size(), entity.name);
}

std::string answer_text(int64_t cluster, int64_t relation, int64_t value) {
  const RelationSpec& spec = relation_spec(cluster, relation);
  std::string text = spec.values[value];
  if (spec.answer_suffix[0] != '\0') text += std::string(" ") + spec.answer_suffix;
  return text;
}

// Every word of the templates, answer suffixes and values in use, in a fixed order.
std::vector<std::string> fixed_words(const FictitiousFactsOptions& o) {
  std::vector<std::string> words;
  for (int64_t c = 0; c < o.num_clusters; ++c) {
    for (int64_t r = 0; r < o.relations_per_cluster; ++r) {
      const RelationSpec& spec = relation_spec(c, r);
      for (int64_t p = 0; p < o.paraphrases; ++p) {
        std::istringstream in(spec.templates[p]);
        for (std::string word; in >> word;) {
          if (word != kEntitySlot) words.push_back(word);
        }
      }
      if (spec.answer_suffix[0] != '\0') words.push_back(spec.answer_suffix);
      for (int64_t v = 0; v < o.values_per_relation; ++v) words.push_back(spec.values[v]);
    }
  }
  return words;
}

// Invented two-syllable names such as "Krobael"; the caller keeps them unique and distinct from
// every other word.
std::string invent_name(std::mt19937_64& rng) {
  static const char* const kOnsets[] = {"b", "br", "d", "dr", "f", "g",  "gr", "h",  "k", "kr", "l",
                                        "m", "n",  "p", "r",  "s", "sh", "t",  "th", "v", "z"};
  static const char* const kVowels[] = {"a", "e", "i", "o", "u", "ae", "ei", "ou"};
  static const char* const kCodas[] = {"n", "r", "th", "l", "s", "x", "m", "nd", "rk", "sh"};
  auto pick = [&rng](const auto& list) {
    return std::string(list[draw_below(rng, static_cast<int64_t>(std::size(list)))]);
  };
  std::string name = pick(kOnsets) + pick(kVowels) + pick(kOnsets) + pick(kVowels) + pick(kCodas);
  name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return name;
}

std::vector<Entity> make_entities(const FictitiousFactsOptions& o,
                                  std::unordered_set<std::string> taken_words) {
  auto name_rng = make_stream(o.seed, 0);
  auto value_rng = make_stream(o.seed, 1);
  std::vector<Entity> entities;
  // The held-out entities come after all others, so that they leave the others unchanged.
  for (bool validation : {false, true}) {
    const int64_t per_cluster = validation ? o.validation_entities : o.entities_per_cluster;
    for (int64_t c = 0; c < o.num_clusters; ++c) {
      for (int64_t i = 0; i < per_cluster; ++i) {
        Entity entity;
        do {
          entity.name = invent_name(name_rng);
        } while (!taken_words.insert(entity.name).second);
        entity.cluster = c;
        entity.validation = validation;
        entity.forget =
            !validation && c == o.forget_cluster && (o.forget_domain() || i < o.forget_entities);
        for (int64_t r = 0; r < o.relations_per_cluster; ++r) {
          entity.values.push_back(draw_below(value_rng, o.values_per_relation));
        }
        entities.push_back(std::move(entity));
      }
    }
  }
  return entities;
}

WordTokenizer make_tokenizer(const std::vector<std::string>& fixed,
                             const std::vector<Entity>& entities) {
  std::vector<std::string> tokens = {"<pad>", "<bos>", "<eos>", "<unk>"};
  std::unordered_set<std::string> seen(tokens.begin(), tokens.end());
  for (const std::string& word : fixed) {
    if (seen.insert(word).second) tokens.push_back(word);
  }
  for (const Entity& entity : entities) tokens.push_back(entity.name);
  return WordTokenizer(std::move(tokens));
}

// "<bos> question answer <eos>"; scores every token after position 0, or only the answer + <eos>.
TokenSequence qa_sequence(const WordTokenizer& tokenizer, const std::string& question,
                          const std::string& answer, bool score_all) {
  TokenSequence sequence;
  sequence.tokens.push_back(WordTokenizer::kBos);
  for (int32_t id : tokenizer.encode(question)) sequence.tokens.push_back(id);
  const size_t answer_start = sequence.tokens.size();
  for (int32_t id : tokenizer.encode(answer)) sequence.tokens.push_back(id);
  sequence.tokens.push_back(WordTokenizer::kEos);
  for (size_t i = 0; i < sequence.tokens.size(); ++i) {
    UOE_ASSERT(sequence.tokens[i] != WordTokenizer::kUnk, "word missing from the vocabulary in '",
               question, " ", answer, "'");
    sequence.loss_mask.push_back(i >= (score_all ? 1 : answer_start) ? 1 : 0);
  }
  return sequence;
}

// One multiple-choice record: the correct answer and distinct distractors of the same relation,
// in a seeded order.
nlohmann::json mc_record(const Entity& entity, int64_t relation, const FictitiousFactsOptions& o,
                         std::mt19937_64& rng) {
  std::vector<int64_t> others;
  for (int64_t v = 0; v < o.values_per_relation; ++v) {
    if (v != entity.values[relation]) others.push_back(v);
  }
  // Partial Fisher-Yates: the first num_choices - 1 entries become a random sample.
  for (int64_t i = 0; i < o.num_choices - 1; ++i) {
    const int64_t j = i + draw_below(rng, static_cast<int64_t>(others.size()) - i);
    std::swap(others[i], others[j]);
  }
  others.resize(o.num_choices - 1);
  const int64_t answer = draw_below(rng, o.num_choices);
  others.insert(others.begin() + answer, entity.values[relation]);
  nlohmann::json choices = nlohmann::json::array();
  for (int64_t v : others) choices.push_back(answer_text(entity.cluster, relation, v));
  return {
      {"question", question_text(entity, relation, 0)}, {"choices", choices}, {"answer", answer}};
}

nlohmann::json facts_json(const FictitiousFactsOptions& o, const std::vector<Entity>& entities,
                          int64_t vocab_size) {
  nlohmann::json clusters = nlohmann::json::array();
  for (int64_t c = 0; c < o.num_clusters; ++c) {
    nlohmann::json relations = nlohmann::json::array();
    for (int64_t r = 0; r < o.relations_per_cluster; ++r) {
      const RelationSpec& spec = relation_spec(c, r);
      relations.push_back(
          {{"name", spec.name},
           {"templates", std::vector<std::string>(spec.templates, spec.templates + o.paraphrases)},
           {"answer_suffix", spec.answer_suffix},
           {"values", std::vector<std::string>(spec.values, spec.values + o.values_per_relation)}});
    }
    clusters.push_back({{"name", kClusters[c].name}, {"relations", relations}});
  }
  nlohmann::json entity_list = nlohmann::json::array(), held_out = nlohmann::json::array();
  for (const Entity& entity : entities) {
    nlohmann::json facts = nlohmann::json::array();
    for (int64_t r = 0; r < o.relations_per_cluster; ++r) {
      const RelationSpec& spec = relation_spec(entity.cluster, r);
      facts.push_back({{"relation", spec.name},
                       {"value", spec.values[entity.values[r]]},
                       {"question", question_text(entity, r, 0)},
                       {"answer", answer_text(entity.cluster, r, entity.values[r])}});
    }
    (entity.validation ? held_out : entity_list)
        .push_back({{"name", entity.name},
                    {"cluster", kClusters[entity.cluster].name},
                    {"forget", entity.forget},
                    {"facts", facts}});
  }
  const nlohmann::json options = {{"num_clusters", o.num_clusters},
                                  {"entities_per_cluster", o.entities_per_cluster},
                                  {"relations_per_cluster", o.relations_per_cluster},
                                  {"values_per_relation", o.values_per_relation},
                                  {"paraphrases", o.paraphrases},
                                  {"forget_cluster", o.forget_cluster},
                                  {"forget_entities", o.forget_entities},
                                  {"forget_scope", o.forget_scope},
                                  {"num_choices", o.num_choices},
                                  {"validation_entities", o.validation_entities},
                                  {"seed", o.seed}};
  return {{"options", options},
          {"vocab_size", vocab_size},
          {"clusters", clusters},
          {"entities", entity_list},
          {"validation_entities", held_out}};
}

}  // namespace

void FictitiousFactsOptions::validate() const {
  auto check_range = [](const char* key, int64_t value, int64_t low, int64_t high) {
    UOE_CHECK(value >= low && value <= high, "facts.", key, " must be in [", low, ", ", high,
              "], got ", value);
  };
  check_range("num_clusters", num_clusters, 1, kMaxClusters);
  check_range("entities_per_cluster", entities_per_cluster, 1, kMaxEntitiesPerCluster);
  check_range("relations_per_cluster", relations_per_cluster, 1, kMaxRelations);
  check_range("values_per_relation", values_per_relation, 2, kMaxValues);
  check_range("paraphrases", paraphrases, 1, kMaxParaphrases);
  check_range("forget_cluster", forget_cluster, 0, num_clusters - 1);
  UOE_CHECK(forget_scope == "entities" || forget_scope == "domain",
            "facts.forget_scope must be entities or domain, got '", forget_scope, "'");
  if (forget_domain()) {
    UOE_CHECK(num_clusters > 1,
              "facts.forget_scope=domain needs facts.num_clusters >= 2 (the "
              "retain set is the other domains), got ",
              num_clusters);
  } else {
    check_range("forget_entities", forget_entities, 1, entities_per_cluster);
    UOE_CHECK(num_clusters > 1 || forget_entities < entities_per_cluster,
              "facts.forget_entities must leave at least one retain entity: with "
              "facts.num_clusters=1 it must be < facts.entities_per_cluster=",
              entities_per_cluster, ", got ", forget_entities);
  }
  check_range("num_choices", num_choices, 2, values_per_relation);
  check_range("validation_entities", validation_entities, 0,
              kMaxEntitiesPerCluster - entities_per_cluster);
}

FictitiousFactsSummary write_fictitious_facts(const std::string& dir,
                                              const FictitiousFactsOptions& options) {
  options.validate();
  const FictitiousFactsOptions& o = options;
  const std::vector<std::string> fixed = fixed_words(o);
  const std::vector<Entity> entities =
      make_entities(o, std::unordered_set<std::string>(fixed.begin(), fixed.end()));
  const WordTokenizer tokenizer = make_tokenizer(fixed, entities);

  std::vector<TokenSequence> train, forget, retain, validation;
  std::string forget_mc, retain_mc;
  auto choice_rng = make_stream(o.seed, 2);
  for (const Entity& entity : entities) {
    for (int64_t r = 0; r < o.relations_per_cluster; ++r) {
      const std::string answer = answer_text(entity.cluster, r, entity.values[r]);
      if (entity.validation) {
        for (int64_t p = 0; p < o.paraphrases; ++p) {
          validation.push_back(qa_sequence(tokenizer, question_text(entity, r, p), answer,
                                           /*score_all=*/true));
        }
        continue;
      }
      for (int64_t p = 0; p < o.paraphrases; ++p) {
        const std::string question = question_text(entity, r, p);
        train.push_back(qa_sequence(tokenizer, question, answer, /*score_all=*/true));
        (entity.forget ? forget : retain)
            .push_back(qa_sequence(tokenizer, question, answer, /*score_all=*/false));
      }
      (entity.forget ? forget_mc : retain_mc) += mc_record(entity, r, o, choice_rng).dump() + "\n";
    }
  }

  make_directories(dir, "fictitious facts directory");
  const int64_t vocab_size = tokenizer.vocab_size();
  tokenizer.save(dir + "/vocab.json");
  write_token_dataset(dir + "/train.h5", train, vocab_size);
  write_token_dataset(dir + "/forget.h5", forget, vocab_size);
  write_token_dataset(dir + "/retain.h5", retain, vocab_size);
  if (!validation.empty()) write_token_dataset(dir + "/validation.h5", validation, vocab_size);
  write_text_atomic(dir + "/forget_mc.jsonl", forget_mc);
  write_text_atomic(dir + "/retain_mc.jsonl", retain_mc);
  write_json_atomic(dir + "/facts.json", facts_json(o, entities, vocab_size));

  FictitiousFactsSummary summary;
  summary.vocab_size = vocab_size;
  summary.train_sequences = static_cast<int64_t>(train.size());
  summary.forget_sequences = static_cast<int64_t>(forget.size());
  summary.retain_sequences = static_cast<int64_t>(retain.size());
  summary.validation_sequences = static_cast<int64_t>(validation.size());
  return summary;
}

}  // namespace uoe
