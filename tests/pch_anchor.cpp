// Gives the shared test precompiled header a translation unit to hang on.
