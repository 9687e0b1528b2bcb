"""Models, one sub-package per problem (segmentation, flow, tracking) plus shared backbones."""
