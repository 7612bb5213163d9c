"""Continued pre-training of encoders: MLM, the CLM detour, layer freezing."""
