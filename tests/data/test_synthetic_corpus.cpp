#include "data/synthetic_corpus.h"
#include "test_utils.h"

namespace uoe {
namespace {

TEST(SyntheticCorpus, DeterministicAndShardable) {
  SyntheticCorpusOptions o;
  SyntheticCorpus corpus(o);
  auto all = corpus.sequences(0, 8);
  EXPECT_EQ(all.sizes(), (std::vector<int64_t>{8, o.seq_len + 1}));
  // Any shard equals the same rows of the whole: ranks can read their own slices.
  EXPECT_TRUE(torch::equal(corpus.sequences(3, 4), all.narrow(0, 3, 4)));
  EXPECT_TRUE(torch::equal(SyntheticCorpus(o).sequences(0, 8), all));
  EXPECT_GE(all.min().item<int64_t>(), 0);
  EXPECT_LT(all.max().item<int64_t>(), o.vocab_size);
}

TEST(SyntheticCorpus, SequencesStayInsideOneTopic) {
  SyntheticCorpusOptions o;
  SyntheticCorpus corpus(o);
  const int64_t per_topic = o.vocab_size / o.num_topics;
  auto seqs = corpus.sequences(0, 16);
  for (int64_t i = 0; i < 16; ++i) {
    auto topics = torch::div(seqs[i], per_topic, "floor");
    EXPECT_EQ(topics.min().item<int64_t>(), topics.max().item<int64_t>()) << "sequence " << i;
  }
}

}  // namespace
}  // namespace uoe
