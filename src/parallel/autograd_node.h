#pragma once
// make_node<T>(...): a custom autograd node in the pointer type this LibTorch uses.
//
// Autograd nodes are held by std::shared_ptr in LibTorch 1.x and by c10::intrusive_ptr in recent
// 2.x releases; Edge::function has the type of this LibTorch. (1.x's custom deleter
// torch::autograd::deleteNode, which releases long chains without deep recursion, is gone in 2.x;
// the nodes a custom node points to keep their own deleters, so releasing it recurses one level.)
#include <torch/csrc/autograd/function.h>

#include <type_traits>
#include <utility>

namespace uoe {

using NodePtr = decltype(torch::autograd::Edge::function);

template <typename T, typename... Args>
NodePtr make_node(Args&&... args) {
  if constexpr (std::is_same_v<NodePtr, std::shared_ptr<torch::autograd::Node>>) {
    return std::make_shared<T>(std::forward<Args>(args)...);
  } else {
    return c10::make_intrusive<T>(std::forward<Args>(args)...);
  }
}

}  // namespace uoe
