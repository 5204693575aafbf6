"""System checks for dj_queue's configuration (registered from ``DjQueueConfig.ready``)."""
