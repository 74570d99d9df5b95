"""sertk: speech emotion recognition toolkit.

Implements "Multiple Enhancements to LSTM for Learning Emotion-Salient Features
in Speech Emotion Recognition" (Interspeech 2022) and goes beyond it.
"""
__version__ = "0.1.0"
