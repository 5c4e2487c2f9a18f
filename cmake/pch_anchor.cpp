// Anchor translation unit: uoe_pch only exists to build the shared <torch/torch.h> PCH.
