"""Media plumbing shared by every stage: the MediaStore, ffmpeg and the PyAV probe."""
