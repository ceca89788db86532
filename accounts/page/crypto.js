// Key derivation for the sign-in page, with WebCrypto only.
