#pragma once
// Built-in, deterministic fictitious-knowledge data for the default demo (the role TOFU plays for
// real models). Entities (invented names) belong to a few topical clusters (e.g. alchemists,
// sailors, painters, astronomers); each cluster has its own relations and value words, and each
// entity has one value per relation of its cluster. Forget = the first `forget_entities` entities
// of cluster `forget_cluster`; retain = every other entity.
// With forget_scope = domain the forget set is the whole topical domain `forget_cluster` and the
// retain set the other domains (the shape of WMDP's domain corpora). A domain has structure of its
// own: its own relation types, question templates (which name the domain: "the alchemist ..."),
// answer suffixes and value vocabulary; domains share only function words ("which", "the", "?").
//
// Files written to <dir> (all sequences start with <bos> and end with <eos>):
//   vocab.json           WordTokenizer vocabulary
//   train.h5             QA sequences of every fact, loss on every token (pretraining corpus);
//                        each fact appears in `paraphrases` question templates
//   forget.h5, retain.h5 QA sequences "<bos> question ? answer <eos>", loss on answer tokens only
//   validation.h5        only with validation_entities > 0: QA sequences of `validation_entities`
//                        further entities per domain whose facts are in no other file, loss on
//                        every token like train.h5 (held-out LM loss, e.g. to choose balancing)
//   forget_mc.jsonl, retain_mc.jsonl
//                        {"question": "...", "choices": ["...", ...], "answer": <index>}: the
//                        correct value plus `num_choices - 1` distractors of the same relation
//   facts.json           the generated entities and facts (for people and plots)
#include <cstdint>
#include <string>

namespace uoe {

struct FictitiousFactsOptions {
  int64_t num_clusters = 4;
  int64_t entities_per_cluster = 10;
  int64_t relations_per_cluster = 4;
  int64_t values_per_relation = 8;
  int64_t paraphrases = 2;
  int64_t forget_cluster = 0;
  int64_t forget_entities = 4;            // forget_scope = entities only
  std::string forget_scope = "entities";  // entities | domain (every entity of forget_cluster)
  int64_t validation_entities = 0;        // held-out entities per domain (validation.h5)
  int64_t num_choices = 4;
  uint64_t seed = 1234;

  bool forget_domain() const { return forget_scope == "domain"; }
  void validate() const;  // InputError naming facts.<key>
};

struct FictitiousFactsSummary {
  int64_t vocab_size = 0;
  int64_t train_sequences = 0;
  int64_t forget_sequences = 0;
  int64_t retain_sequences = 0;
  int64_t validation_sequences = 0;
};

// Deterministic in (options): the same options always give byte-identical files.
FictitiousFactsSummary write_fictitious_facts(const std::string& dir,
                                              const FictitiousFactsOptions& options);

}  // namespace uoe
