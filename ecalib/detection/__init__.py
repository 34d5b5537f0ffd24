"""COCO transfer: Mask R-CNN with an ECA-ResNet-50-FPN backbone (torchvision, and MMDetection through
its registry), weight conversion, COCO evaluation and visualisation."""
