// Linked instead of nccl_communicator.cpp when this build has no NCCL backend.
#include "common/check.h"
#include "parallel/nccl_communicator.h"

namespace uoe {

bool nccl_available() { return false; }

CommunicatorPtr create_nccl_communicator(std::shared_ptr<MpiCommunicator>, int) {
  UOE_CHECK(false,
            "this uoe build has no NCCL backend; reconfigure with -DUOE_WITH_NCCL=ON on a "
            "machine with the CUDA toolkit and NCCL");
  return nullptr;
}

}  // namespace uoe
