"""Training of the project's own default models: dataset builders from synthetic and real
labelled frames (``datasets``, ``yolo_files``), YOLOv8 detector and pose fine-tuning with their
manifests (``yolo``), and the heatmap pitch keypoint model (``keypoints``).

Around the pipeline (layer 5): imports the curation stages and base, never the flows; nothing
in the pipeline imports it, so it is not part of the shards' ``code_version``.
"""
