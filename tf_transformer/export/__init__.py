"""Export for TF Serving: versioned string-in/string-out SavedModels, warm-up, gRPC client."""
