#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "data/fictitious_facts.h"
#include "data/token_dataset.h"
#include "test_utils.h"
#include "tokenizer/word_tokenizer.h"

namespace uoe {
namespace {

const char* const kFiles[] = {"vocab.json",      "train.h5",        "forget.h5", "retain.h5",
                              "forget_mc.jsonl", "retain_mc.jsonl", "facts.json"};

struct Generated {
  std::string dir;
  FictitiousFactsOptions options;
  FictitiousFactsSummary summary;
  nlohmann::json facts;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  std::istringstream lines(read_file(path));
  for (std::string line; std::getline(lines, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

Generated generate(const FictitiousFactsOptions& options, const std::string& name) {
  Generated g;
  g.dir = testing::TempDir() + "uoe_facts_" + std::to_string(::getpid()) + "_" + name;
  std::filesystem::remove_all(g.dir);
  g.options = options;
  g.summary = write_fictitious_facts(g.dir, options);
  g.facts = nlohmann::json::parse(read_file(g.dir + "/facts.json"));
  return g;
}

// What facts.json says about one question: the expected answer, whose fact it is, and the
// answers of every value of the same relation (the legal multiple-choice options).
struct ExpectedFact {
  std::string answer;
  std::string entity;
  bool forget = false;
  std::set<std::string> relation_answers;
};

std::map<std::string, ExpectedFact> facts_by_question(const nlohmann::json& facts) {
  std::map<std::string, nlohmann::json> clusters;
  for (const auto& cluster : facts.at("clusters")) {
    clusters[cluster.at("name").get<std::string>()] = cluster;
  }
  std::map<std::string, ExpectedFact> by_question;
  for (const auto& entity : facts.at("entities")) {
    const auto& relations = clusters.at(entity.at("cluster").get<std::string>()).at("relations");
    const auto& entity_facts = entity.at("facts");
    EXPECT_EQ(entity_facts.size(), relations.size());
    for (size_t r = 0; r < relations.size(); ++r) {
      const auto& relation = relations[r];
      const auto& fact = entity_facts[r];
      EXPECT_EQ(fact.at("relation"), relation.at("name"));
      ExpectedFact expected{fact.at("answer"), entity.at("name"), entity.at("forget"), {}};
      const std::string suffix = relation.at("answer_suffix");
      for (const std::string value : relation.at("values")) {
        expected.relation_answers.insert(suffix.empty() ? value : value + " " + suffix);
      }
      EXPECT_EQ(expected.relation_answers.count(expected.answer), 1u) << expected.answer;
      EXPECT_EQ(expected.answer.rfind(fact.at("value").get<std::string>(), 0), 0u);
      for (std::string question : relation.at("templates")) {
        question.replace(question.find("{}"), 2, expected.entity);
        EXPECT_TRUE(by_question.emplace(question, expected).second) << "duplicate " << question;
      }
      const std::string first_question = fact.at("question");
      EXPECT_EQ(by_question.count(first_question), 1u) << first_question;
    }
  }
  return by_question;
}

std::vector<TokenSequence> read_sequences(const Generated& g, const std::string& file) {
  TokenDataset dataset(g.dir + "/" + file);
  EXPECT_EQ(dataset.vocab_size(), g.summary.vocab_size) << file;
  std::vector<TokenSequence> sequences;
  for (int64_t i = 0; i < dataset.size(); ++i) sequences.push_back(dataset.get(i));
  return sequences;
}

std::vector<int32_t> slice(const std::vector<int32_t>& ids, size_t begin, size_t end) {
  return std::vector<int32_t>(ids.begin() + begin, ids.begin() + end);
}

// forget.h5 / retain.h5: "<bos> question answer <eos>", answer + <eos> scored, and the answer is
// the one facts.json gives for the question. Adds the entities seen to `entities`.
void check_qa_file(const Generated& g, const std::string& file, bool forget,
                   std::set<std::string>* entities) {
  const WordTokenizer tokenizer = WordTokenizer::load(g.dir + "/vocab.json");
  const auto expected = facts_by_question(g.facts);
  for (const TokenSequence& s : read_sequences(g, file)) {
    ASSERT_EQ(s.loss_mask.size(), s.tokens.size());
    ASSERT_GE(s.tokens.size(), 4u);
    EXPECT_EQ(s.tokens.front(), WordTokenizer::kBos);
    EXPECT_EQ(s.tokens.back(), WordTokenizer::kEos);
    for (int32_t id : s.tokens) {
      const bool special = id == WordTokenizer::kBos || id == WordTokenizer::kEos;
      EXPECT_TRUE(id > WordTokenizer::kUnk || special) << file << ": token " << id;
      EXPECT_LT(id, g.summary.vocab_size);
    }
    const size_t answer_start =
        std::find(s.loss_mask.begin(), s.loss_mask.end(), 1) - s.loss_mask.begin();
    for (size_t j = 0; j < s.tokens.size(); ++j) {
      EXPECT_EQ(s.loss_mask[j], j >= answer_start ? 1 : 0) << file << ": " << j;
    }
    const std::string question = tokenizer.decode(slice(s.tokens, 1, answer_start));
    const std::string answer = tokenizer.decode(slice(s.tokens, answer_start, s.tokens.size()));
    const auto fact = expected.find(question);
    ASSERT_NE(fact, expected.end()) << file << ": unknown question '" << question << "'";
    EXPECT_EQ(answer, fact->second.answer) << question;
    EXPECT_EQ(fact->second.forget, forget) << file << ": " << question;
    const size_t answer_tokens = s.tokens.size() - answer_start - 1;
    EXPECT_TRUE(answer_tokens >= 1 && answer_tokens <= 3) << answer;
    entities->insert(fact->second.entity);
  }
}

void check_mc_file(const Generated& g, const std::string& file, bool forget) {
  const auto expected = facts_by_question(g.facts);
  std::set<int64_t> answer_positions;
  const std::vector<nlohmann::json> records = read_jsonl(g.dir + "/" + file);
  for (const nlohmann::json& record : records) {
    ASSERT_EQ(record.size(), 3u) << record;
    const auto fact = expected.find(record.at("question").get<std::string>());
    ASSERT_NE(fact, expected.end()) << file << ": " << record;
    EXPECT_EQ(fact->second.forget, forget) << record;
    const auto choices = record.at("choices").get<std::vector<std::string>>();
    const int64_t answer = record.at("answer");
    ASSERT_EQ(static_cast<int64_t>(choices.size()), g.options.num_choices) << record;
    ASSERT_TRUE(answer >= 0 && answer < g.options.num_choices) << record;
    EXPECT_EQ(choices[answer], fact->second.answer) << record;
    EXPECT_EQ(std::set<std::string>(choices.begin(), choices.end()).size(), choices.size());
    for (const std::string& choice : choices) {
      EXPECT_EQ(fact->second.relation_answers.count(choice), 1u) << choice << " in " << record;
    }
    answer_positions.insert(answer);
  }
  if (records.size() >= 4) {
    EXPECT_GT(answer_positions.size(), 1u) << file << ": the correct choice never moves";
  }
}

// Every property that must hold for any options.
void check_consistency(const Generated& g) {
  const FictitiousFactsOptions& o = g.options;
  const int64_t entities = o.num_clusters * o.entities_per_cluster;
  const int64_t per_entity = o.relations_per_cluster * o.paraphrases;
  const int64_t num_forget = o.forget_domain() ? o.entities_per_cluster : o.forget_entities;
  EXPECT_EQ(g.summary.forget_sequences, num_forget * per_entity);
  EXPECT_EQ(g.summary.retain_sequences, (entities - num_forget) * per_entity);
  EXPECT_EQ(g.summary.train_sequences, entities * per_entity);
  EXPECT_EQ(WordTokenizer::load(g.dir + "/vocab.json").vocab_size(), g.summary.vocab_size);
  EXPECT_EQ(g.facts.at("vocab_size"), g.summary.vocab_size);

  // Forget = the first forget_entities of cluster forget_cluster (all of it with forget_scope
  // domain); retain = all others.
  const auto& entity_list = g.facts.at("entities");
  ASSERT_EQ(static_cast<int64_t>(entity_list.size()), entities);
  std::set<std::string> want_forget, want_retain;
  for (int64_t e = 0; e < entities; ++e) {
    const bool forget =
        e / o.entities_per_cluster == o.forget_cluster && e % o.entities_per_cluster < num_forget;
    EXPECT_EQ(entity_list[e].at("forget"), forget) << entity_list[e].at("name");
    EXPECT_EQ(entity_list[e].at("cluster"),
              g.facts.at("clusters")[e / o.entities_per_cluster].at("name"));
    (forget ? want_forget : want_retain).insert(entity_list[e].at("name").get<std::string>());
  }
  EXPECT_EQ(want_forget.size() + want_retain.size(), static_cast<size_t>(entities))
      << "entity names must be unique";
  std::set<std::string> seen_forget, seen_retain;
  check_qa_file(g, "forget.h5", true, &seen_forget);
  check_qa_file(g, "retain.h5", false, &seen_retain);
  EXPECT_EQ(seen_forget, want_forget);
  EXPECT_EQ(seen_retain, want_retain);
  check_mc_file(g, "forget_mc.jsonl", true);
  check_mc_file(g, "retain_mc.jsonl", false);
  EXPECT_EQ(static_cast<int64_t>(read_jsonl(g.dir + "/forget_mc.jsonl").size()),
            num_forget * o.relations_per_cluster);
  EXPECT_EQ(static_cast<int64_t>(read_jsonl(g.dir + "/retain_mc.jsonl").size()),
            (entities - num_forget) * o.relations_per_cluster);

  // train.h5 holds exactly the forget and retain sequences, scored on every token but the first.
  std::vector<std::vector<int32_t>> train, forget_and_retain;
  for (const TokenSequence& s : read_sequences(g, "train.h5")) {
    for (size_t j = 0; j < s.tokens.size(); ++j) EXPECT_EQ(s.loss_mask[j], j > 0 ? 1 : 0);
    train.push_back(s.tokens);
  }
  for (const char* file : {"forget.h5", "retain.h5"}) {
    for (const TokenSequence& s : read_sequences(g, file)) forget_and_retain.push_back(s.tokens);
  }
  std::sort(train.begin(), train.end());
  std::sort(forget_and_retain.begin(), forget_and_retain.end());
  EXPECT_EQ(train, forget_and_retain);
}

TEST(FictitiousFacts, SameOptionsGiveIdenticalFiles) {
  FictitiousFactsOptions o;
  const Generated first = generate(o, "first");
  // HDF5 stores modification times by default; a second apart, they would differ.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const Generated second = generate(o, "second");
  for (const char* file : kFiles) {
    EXPECT_TRUE(read_file(first.dir + "/" + file) == read_file(second.dir + "/" + file))
        << file << " differs between two runs with the same options";
  }
  o.seed += 1;
  const Generated other_seed = generate(o, "other_seed");
  EXPECT_NE(other_seed.facts.at("entities"), first.facts.at("entities"));
}

TEST(FictitiousFacts, DefaultDataIsConsistent) {
  const Generated g = generate(FictitiousFactsOptions{}, "default");
  check_consistency(g);
  // 4 clusters x 10 entities x 4 relations x 2 paraphrases; forget = 4 alchemists.
  EXPECT_EQ(g.summary.train_sequences, 320);
  EXPECT_EQ(g.summary.forget_sequences, 32);
  EXPECT_EQ(g.facts.at("clusters")[0].at("name"), "alchemists");
  // The default data fits the tiny model's vocabulary (configs/tiny: model.vocab_size 256).
  EXPECT_LE(g.summary.vocab_size, 256);
}

TEST(FictitiousFacts, OtherOptionsAreConsistent) {
  FictitiousFactsOptions o;
  o.num_clusters = 1;
  o.entities_per_cluster = 3;
  o.forget_entities = 2;
  o.relations_per_cluster = 5;
  o.values_per_relation = 10;
  o.paraphrases = 3;
  o.num_choices = 10;
  o.seed = 7;
  check_consistency(generate(o, "one_cluster"));

  FictitiousFactsOptions last_cluster;
  last_cluster.forget_cluster = 3;
  last_cluster.forget_entities = 10;
  last_cluster.num_choices = 2;
  const Generated g = generate(last_cluster, "last_cluster");
  check_consistency(g);
  EXPECT_EQ(g.facts.at("entities")[30].at("cluster"), "astronomers");
}

// The words of every sequence of `file`.
std::set<std::string> words_of(const Generated& g, const std::string& file) {
  const WordTokenizer tokenizer = WordTokenizer::load(g.dir + "/vocab.json");
  std::set<std::string> words;
  for (const TokenSequence& s : read_sequences(g, file)) {
    std::istringstream in(tokenizer.decode(s.tokens));
    for (std::string word; in >> word;) words.insert(word);
  }
  return words;
}

TEST(FictitiousFacts, DomainForgetIsOneWholeDomain) {
  FictitiousFactsOptions o;
  o.forget_scope = "domain";
  o.forget_cluster = 2;
  o.forget_entities = 0;  // not used with forget_scope = domain
  const Generated g = generate(o, "domain");
  check_consistency(g);
  // 10 painters x 4 relations x 2 paraphrases forget; the 30 others retain.
  EXPECT_EQ(g.summary.forget_sequences, 80);
  EXPECT_EQ(g.summary.retain_sequences, 240);
  EXPECT_EQ(g.facts.at("options").at("forget_scope"), "domain");
  for (const auto& entity : g.facts.at("entities")) {
    EXPECT_EQ(entity.at("forget").get<bool>(), entity.at("cluster") == "painters") << entity;
  }
  // The domain has vocabulary of its own: none of its value words, answer suffixes or relation
  // templates' content words reach the retain set, and the retain domains' value words never
  // reach the forget set.
  std::set<std::string> forget_values, retain_values;
  for (const auto& cluster : g.facts.at("clusters")) {
    auto& values = cluster.at("name") == "painters" ? forget_values : retain_values;
    for (const auto& relation : cluster.at("relations")) {
      for (const std::string value : relation.at("values")) values.insert(value);
    }
  }
  const auto forget_words = words_of(g, "forget.h5"), retain_words = words_of(g, "retain.h5");
  for (const auto& value : forget_values) EXPECT_EQ(retain_words.count(value), 0u) << value;
  for (const auto& value : retain_values) EXPECT_EQ(forget_words.count(value), 0u) << value;
  EXPECT_EQ(retain_words.count("painter"), 0u);
  EXPECT_GT(forget_words.count("painter"), 0u);
  // Some values of the domain occur in the forget set (it is not vacuous).
  size_t used = 0;
  for (const auto& value : forget_values) used += forget_words.count(value);
  EXPECT_GT(used, 8u);
}

TEST(FictitiousFacts, DomainForgetIsDeterministicBySeed) {
  FictitiousFactsOptions o;
  o.forget_scope = "domain";
  o.forget_cluster = 1;
  o.seed = 99;
  const Generated first = generate(o, "domain_first");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const Generated second = generate(o, "domain_second");
  for (const char* file : kFiles) {
    EXPECT_TRUE(read_file(first.dir + "/" + file) == read_file(second.dir + "/" + file)) << file;
  }
  o.seed = 100;
  const Generated other = generate(o, "domain_other_seed");
  check_consistency(other);
  EXPECT_NE(other.facts.at("entities"), first.facts.at("entities"));
  EXPECT_EQ(other.summary.forget_sequences, first.summary.forget_sequences);
  // The entity split of the default scope is unchanged by the new option: same seed, same names.
  FictitiousFactsOptions entities_scope;
  entities_scope.seed = 99;
  entities_scope.forget_cluster = 1;
  const Generated by_entities = generate(entities_scope, "domain_vs_entities");
  for (size_t e = 0; e < first.facts.at("entities").size(); ++e) {
    EXPECT_EQ(by_entities.facts.at("entities")[e].at("name"),
              first.facts.at("entities")[e].at("name"));
  }
  EXPECT_EQ(by_entities.summary.forget_sequences, 4 * 4 * 2);
}

TEST(FictitiousFacts, ValidationEntitiesAreHeldOut) {
  FictitiousFactsOptions o;
  o.forget_scope = "domain";
  const Generated without = generate(o, "no_validation");
  EXPECT_FALSE(std::filesystem::exists(without.dir + "/validation.h5"));
  o.validation_entities = 2;
  const Generated with = generate(o, "validation");
  check_consistency(with);
  // 4 domains x 2 held-out entities x 4 relations x 2 paraphrases, scored on every token.
  EXPECT_EQ(with.summary.validation_sequences, 4 * 2 * 4 * 2);
  // The other entities, their facts and every other sequence are those of the data without them.
  EXPECT_EQ(with.facts.at("entities"), without.facts.at("entities"));
  for (const char* file : {"train.h5", "forget.h5", "retain.h5"}) {
    const auto a = read_sequences(with, file), b = read_sequences(without, file);
    ASSERT_EQ(a.size(), b.size()) << file;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].tokens, b[i].tokens) << file;
  }
  const auto& held_out = with.facts.at("validation_entities");
  ASSERT_EQ(held_out.size(), 8u);
  const WordTokenizer tokenizer = WordTokenizer::load(with.dir + "/vocab.json");
  std::set<int32_t> name_ids;
  for (const auto& entity : held_out) {
    EXPECT_FALSE(entity.at("forget").get<bool>());
    name_ids.insert(tokenizer.encode(entity.at("name").get<std::string>()).at(0));
  }
  std::set<int32_t> train_ids;
  for (const TokenSequence& s : read_sequences(with, "train.h5")) {
    train_ids.insert(s.tokens.begin(), s.tokens.end());
  }
  std::set<int32_t> seen_names;
  for (const TokenSequence& s : read_sequences(with, "validation.h5")) {
    for (size_t j = 0; j < s.tokens.size(); ++j) {
      EXPECT_EQ(s.loss_mask[j], j > 0 ? 1 : 0);
      if (name_ids.count(s.tokens[j])) seen_names.insert(s.tokens[j]);
    }
  }
  EXPECT_EQ(seen_names, name_ids);
  for (int32_t id : name_ids) EXPECT_EQ(train_ids.count(id), 0u) << "held-out name in train.h5";
}

TEST(FictitiousFacts, VocabularyHasOneTokenPerWord) {
  FictitiousFactsOptions o;
  o.relations_per_cluster = 5;
  o.values_per_relation = 10;
  o.paraphrases = 3;
  const Generated g = generate(o, "full");
  const WordTokenizer tokenizer = WordTokenizer::load(g.dir + "/vocab.json");
  auto expect_known = [&](const std::string& text) {
    for (int32_t id : tokenizer.encode(text)) EXPECT_NE(id, WordTokenizer::kUnk) << text;
  };
  // Value words are distinct across every relation of every cluster, and are never also
  // template words: each value is one token that means one thing.
  std::set<std::string> values, template_words;
  for (const auto& cluster : g.facts.at("clusters")) {
    for (const auto& relation : cluster.at("relations")) {
      for (const std::string value : relation.at("values")) {
        EXPECT_TRUE(values.insert(value).second) << "value '" << value << "' used twice";
        EXPECT_EQ(tokenizer.encode(value).size(), 1u) << value;
        expect_known(value);
      }
      for (const std::string text : relation.at("templates")) {
        std::istringstream words(text);
        for (std::string word; words >> word;) template_words.insert(word);
      }
      expect_known(relation.at("answer_suffix"));
    }
  }
  for (const std::string& value : values) EXPECT_EQ(template_words.count(value), 0u) << value;
  for (const auto& entity : g.facts.at("entities")) {
    EXPECT_EQ(tokenizer.encode(entity.at("name")).size(), 1u);
    EXPECT_EQ(values.count(entity.at("name")), 0u);
    for (const auto& fact : entity.at("facts")) {
      expect_known(fact.at("question"));
      expect_known(fact.at("answer"));
    }
  }
}

TEST(FictitiousFacts, ValidationNamesTheKey) {
  using Change = std::function<void(FictitiousFactsOptions&)>;
  const std::vector<std::pair<std::string, Change>> cases = {
      {"num_clusters", [](auto& o) { o.num_clusters = 0; }},
      {"num_clusters", [](auto& o) { o.num_clusters = 5; }},
      {"entities_per_cluster", [](auto& o) { o.entities_per_cluster = 0; }},
      {"relations_per_cluster", [](auto& o) { o.relations_per_cluster = 6; }},
      {"values_per_relation", [](auto& o) { o.values_per_relation = 1; }},
      {"values_per_relation", [](auto& o) { o.values_per_relation = 11; }},
      {"paraphrases", [](auto& o) { o.paraphrases = 4; }},
      {"forget_cluster", [](auto& o) { o.forget_cluster = 4; }},
      {"forget_cluster", [](auto& o) { o.forget_cluster = -1; }},
      {"forget_entities", [](auto& o) { o.forget_entities = 0; }},
      {"forget_entities", [](auto& o) { o.forget_entities = 11; }},
      {"forget_entities",
       [](auto& o) {
         o.num_clusters = 1;
         o.forget_entities = o.entities_per_cluster;  // nothing left to retain
       }},
      {"forget_scope", [](auto& o) { o.forget_scope = "cluster"; }},
      {"validation_entities", [](auto& o) { o.validation_entities = -1; }},
      {"forget_scope",
       [](auto& o) {
         o.forget_scope = "domain";
         o.num_clusters = 1;  // no other domain to retain
         o.forget_cluster = 0;
       }},
      {"num_choices", [](auto& o) { o.num_choices = 1; }},
      {"num_choices", [](auto& o) { o.num_choices = 9; }},  // > values_per_relation = 8
  };
  FictitiousFactsOptions{}.validate();
  for (const auto& [key, change] : cases) {
    FictitiousFactsOptions o;
    change(o);
    try {
      o.validate();
      ADD_FAILURE() << "facts." << key << ": expected InputError";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("facts." + key), std::string::npos) << e.what();
    }
  }
  // write_fictitious_facts validates before writing anything.
  FictitiousFactsOptions bad;
  bad.paraphrases = 0;
  const std::string dir = testing::TempDir() + "uoe_facts_" + std::to_string(::getpid()) + "_bad";
  EXPECT_THROW(write_fictitious_facts(dir, bad), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace uoe
