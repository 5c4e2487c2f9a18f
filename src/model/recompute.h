#pragma once
// Activation recomputation (`gradient_checkpointing: true`, HF's key): a decoder layer keeps only
// its input from the forward pass and runs again in backward. LibTorch's C++ API has no
// torch.utils.checkpoint; this is its reentrant form, one autograd node per layer call:
//
//   forward  : the layer runs without autograd, so its activations are freed as it goes. The
//              outputs that losses differentiate (hidden [B, S, H]; on MoE layers also the
//              router's logits and probs [T, E]) get one node, RecomputeBackward, which keeps the
//              layer's input [B, S, H] and, on MoE layers, an ExchangeRecord
//              (moe/dispatch_transport.h): the routing and the rows its exchanges delivered.
//   backward : the node runs the layer again on the kept input with autograd on (the MoE layer
//              replays its routing and exchanges from the record) and back-propagates the output
//              gradients through that graph: parameter gradients accumulate into .grad as they
//              would without recomputation, and the input gradient goes on to the layer below.
//
// Collectives over the EP group, per MoE layer and layer call, in this order on every rank:
//   forward   : count exchange, dispatch exchange, combine exchange  (as without recomputation)
//   recompute : none  (the record replays them)
//   backward  : reverse combine exchange, reverse dispatch exchange  (inside the node's backward,
//               as without recomputation)
// Nothing else communicates: gradient synchronisation runs after backward, once per parameter.
// The losses read the first run's routing (topk_ids, tokens_per_expert), so balancing statistics
// and router-bias loads are counted once; parameters that do not require grad get no gradient.
// The recomputation repeats the same operations on the same values, so losses and gradients are
// bitwise equal with it on and off. The graph's backward may run once (no retain_graph).
#include "model/decoder_layer.h"

namespace uoe {

// layer->forward(x, rotary) with recomputation in backward, when grad mode is on and x or one of
// the layer's parameters needs a gradient; otherwise the plain forward.
DecoderOutput recomputed_forward(DecoderLayer& layer, const torch::Tensor& x,
                                 const RotaryTables& rotary);

}  // namespace uoe
