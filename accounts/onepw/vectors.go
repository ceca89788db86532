package onepw

// Vector is one known-answer case of the accounts crypto, shared by this
// package's tests and by tests that check other implementations against Go
// (the page's JavaScript inside Firefox, scripted clients). Byte strings are
// lowercase hex; K and KID are as OldSyncKey returns them. An empty field is
// not part of the case. The JSON names (json.Marshal(Vectors)) are FxA's
// spellings, for handing the table to JavaScript.
//
// The chain a case describes is the page's: ClientSalt and Password give
// QuickStretchedPW (QuickStretchV2, or QuickStretchV1 with Email when
// ClientSalt is empty), which gives AuthPW and UnwrapBKey; KeyFetchToken
// gives KeyRequestKey (DeriveToken), which with KA and WrapKb gives Bundle
// (KeysBundle); KB = WrapKb ⊕ UnwrapBKey, and KB with KeysChangedAt (ms)
// gives K and KID (OldSyncKey).
type Vector struct {
	// Name says where the case comes from; Source lists, per field, whether
	// it is published (and where) or generated.
	Name   string `json:"name"`
	Source string `json:"source"`

	Email            string `json:"email,omitempty"`
	Password         string `json:"password,omitempty"`
	ClientSalt       string `json:"clientSalt,omitempty"`
	QuickStretchedPW string `json:"quickStretchedPW,omitempty"`
	AuthPW           string `json:"authPW,omitempty"`
	UnwrapBKey       string `json:"unwrapBKey,omitempty"`

	KeyFetchToken string `json:"keyFetchToken,omitempty"`
	KeyRequestKey string `json:"keyRequestKey,omitempty"`
	KA            string `json:"kA,omitempty"`
	WrapKb        string `json:"wrapKb,omitempty"`
	Bundle        string `json:"bundle,omitempty"`

	KB            string `json:"kB,omitempty"`
	KeysChangedAt int64  `json:"keysChangedAt,omitempty"`
	K             string `json:"k,omitempty"`
	KID           string `json:"kid,omitempty"`
}

// TokenVector is a known answer of DeriveToken: Token (hex) of Kind gives
// ID, HMACKey and KeyRequestKey (hex).
type TokenVector struct {
	Source        string `json:"source"`
	Token         string `json:"token"`
	Kind          string `json:"kind"`
	ID            string `json:"id"`
	HMACKey       string `json:"hmacKey"`
	KeyRequestKey string `json:"keyRequestKey"`
}

// generated marks the values no one publishes. They were computed by
// testdata/vectors.py (Python hashlib, hmac and its own RFC 5869 HKDF, no
// shared code with this package) and agree with the Go implementation.
const generated = "generated: testdata/vectors.py, cross-checked with the Go code"

// Vectors is the table of known answers of the page's chain.
var Vectors = []Vector{
	{
		Name: "FxA onepw v2 (pässwörd) + onepw /account/keys bundle",
		Source: "AuthPW, UnwrapBKey: mozilla/fxa fxa-auth-client test/crypto.ts (getCredentialsV2, V2 salt); " +
			"KeyFetchToken, KA, WrapKb, Bundle: gecko test_client.js ACCOUNT_KEYS (onepw wiki /account/keys); " +
			"QuickStretchedPW, KeyRequestKey, KB, K, KID: " + generated,
		Email:            "andré@example.org",
		Password:         "pässwörd",
		ClientSalt:       NS + "quickStretchV2:0123456789abcdef0123456789abcdef",
		QuickStretchedPW: "1962d132874d2be60129f21229c42205e75661b08b7e657c4997972475459e41",
		AuthPW:           "d278c764bd1852a14bfc4e9d8c1682b4f1a57edb9a9372bf8c370cc41592155b",
		UnwrapBKey:       "616616095eff30032abf6a47df30d9a3fc799d8af5e8519905c1601170553493",
		KeyFetchToken:    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		KeyRequestKey:    "14f338a9e8c6324d9e102d4e6ee83b209796d5c74bb734a410e729e014a4a546",
		KA:               "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		WrapKb:           "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		Bundle: "ee5c58845c7c9412b11bbd20920c2fddd83c33c9cd2c2de2d66b222613364636" +
			"c2c0f8cfbb7c630472c0bd88451342c6c05b14ce342c5ad46ad89e84464c993c" +
			"3927d30230157d0817a077eef4b20d976f7a97363faf3f064c003ada7d01aa70",
		KB:            "2127544a1aba764462f6200c937d97ecac28cfd9a1bd07ce5d983a4a2c086acc",
		KeysChangedAt: 1510726317123,
		K:             "kYTFYmXD_zuFWUS7fZgB1GCrd9UnKakju2DeTlriaJ9dPVJTKFywDKpA7pZItQNe_ysDplvCT6FDB1HDeL6KFQ",
		KID:           "1510726317123-oDAfylhXlXBxgkjQ9Dq7yg",
	},
	{
		Name: "FxA onepw v1 (pässwörd)",
		Source: "QuickStretchedPW, AuthPW, UnwrapBKey: onepw wiki test vectors, as pinned by gecko " +
			"test_credentials.js and mozilla/fxa fxa-auth-client test/crypto.ts (getCredentials)",
		Email:            "andré@example.org",
		Password:         "pässwörd",
		QuickStretchedPW: "e4e8889bd8bd61ad6de6b95c059d56e7b50dacdaf62bd84644af7e2add84345d",
		AuthPW:           "247b675ffb4c46310bc87e26d712153abe5e1c90ef00a4784594f97ef54f2375",
		UnwrapBKey:       "de6a2648b78284fcb9ffa81ba95803309cfba7af583c01a8a1a63e567234dd28",
	},
	{
		Name: "gecko test_accounts.js getKeyForScope oldsync",
		Source: "all published: gecko services/fxaccounts/tests/xpcshell test_accounts.js " +
			"(test_getKeyForScope_oldsync) and test_client.js ACCOUNT_KEYS (KeyServerProtocol wiki vectors)",
		UnwrapBKey:    "6ea660be9c89ec355397f89afb282ea0bf21095760c8c5009bbcc894155bbe2a",
		KeyFetchToken: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		KA:            "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
		WrapKb:        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		Bundle: "ee5c58845c7c9412b11bbd20920c2fddd83c33c9cd2c2de2d66b222613364636" +
			"c2c0f8cfbb7c630472c0bd88451342c6c05b14ce342c5ad46ad89e84464c993c" +
			"3927d30230157d0817a077eef4b20d976f7a97363faf3f064c003ada7d01aa70",
		KB:            "2ee722fdd8ccaa721bdeb2d1b76560efef705b04349d9357c3e592cf4906e075",
		KeysChangedAt: 1510726317123,
		K:             "fwM5VZu0Spf5XcFRZYX2zk6MrqZP7zvovCBcvuKwgYMif3hz98FHmIVa3qjKjrW0J244Zj-P5oWaOcQbvypmpw",
		KID:           "1510726317123-BAik7hEOdpGnPZnPBSdaTg",
	},
	{
		Name:          "gecko test_keys.js oldsync",
		Source:        "published: gecko services/fxaccounts/tests/xpcshell/test_keys.js",
		KB:            "eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9",
		KeysChangedAt: 1510726317123,
		K:             "DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang",
		KID:           "1510726317123-IqQv4onc7VcVE1kTQkyyOw",
	},
	{
		Name:          "fxa-auth-client unbundleKeyFetchResponse",
		Source:        "published: mozilla/fxa fxa-auth-client test/crypto.ts (its bundleKey is our KeyRequestKey)",
		KeyRequestKey: "dedd009a8275a4f672bb4b41e14a117812c0b2f400c85fa058e0293f3f45726a",
		KA:            "939282904b808c6003ea31aeb14bc766d2ab70ba7dcaa54f820efcf4762b9619",
		WrapKb:        "849ac9f71643ace46dcdd384633ec1bffe565852806ee2f859c3eba7fafeafec",
		Bundle: "df4717238a738501bd2ad8f7114ef193ea69751a40108149bfb88a5643a8d683" +
			"a1e75b705d4db135130f0896dbac0819ab7d54334e0cd4f9c945e0a7ada91899" +
			"756cedf4384be404844050270310bc2b396f100eeda0c7b428cfe77c40a873ae",
	},
}

// TokenVectors are known answers of DeriveToken.
var TokenVectors = []TokenVector{
	{
		Source:        "ID, HMACKey published: onepw wiki, pinned by gecko test_hawkrequest.js and fxa-auth-server session_token tests; KeyRequestKey " + generated,
		Token:         "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
		Kind:          KindSession,
		ID:            "c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab",
		HMACKey:       "9d8f22998ee7f5798b887042466b72d53e56ab0c094388bf65831f702d2febc0",
		KeyRequestKey: "37e3fceb754cb57362a8bd60a2f2344a7c285d17ddb2b57733640ce6d1b6a7a8",
	},
	{
		Source:        "ID published: mozilla/PyFxA test vectors (EXPECTED_IDS, pinned for the fxs_/fxk_ bearer ids); HMACKey, KeyRequestKey " + generated,
		Token:         "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
		Kind:          KindKeyFetch,
		ID:            "70db599cec9c040b10c790418f93fe77711fdea352a59e9b02d2336136d39f68",
		HMACKey:       "f936647aab7765642f3ee1c704751e501f50f8188ec55c31df4dbfc28f16816f",
		KeyRequestKey: "d27327daae0c97e2b785eeecd78b69ddda0ea5f8acc9758d49f3afc5d4ca6101",
	},
}

// JWEVector is a keys_jwe built outside Go with fixed keys and IV, as
// Firefox expects it: RecipientD is the private scalar (hex) of the P-256
// key whose public part is KeysJWK (b64url JSON, as in Firefox's connect
// URL); JWE decrypts with it to Plaintext through the CEK (hex) of the
// spec's Concat KDF. A JavaScript sealer can be checked by sealing to
// KeysJWK and opening the result in Go with RecipientD (OpenKeysJWE).
type JWEVector struct {
	Source     string `json:"source"`
	RecipientD string `json:"recipientD"`
	KeysJWK    string `json:"keysJWK"`
	JWE        string `json:"jwe"`
	CEK        string `json:"cek"`
	Plaintext  string `json:"plaintext"`
}

// KeysJWEVector carries the scoped keys of gecko's test_keys.js vector.
var KeysJWEVector = JWEVector{
	Source: "generated: testdata/vectors.py with python3-cryptography for P-256 and AES-GCM and a " +
		"hand-written Concat KDF; ephemeral scalar 519b42…b464, IV 000102…0b",
	RecipientD: "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
	KeysJWK:    "eyJjcnYiOiAiUC0yNTYiLCAiZXh0IjogdHJ1ZSwgImtleV9vcHMiOiBbXSwgImt0eSI6ICJFQyIsICJ4IjogIllQN1V1aVZhblRISllldDB4alZ0YU1CSnVKSTdZZnBzNW1saUxtRHluN1kiLCAieSI6ICJlUVAtRUFpNHZKbWtHdW5wVmlpOFpQTHhzZ3d0ZnA5UmQ2UENsTlJHSXBrIn0",
	JWE: "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMjU2IiwieCI6IkhNdnBIQWRmeF9Ud003LWlTTnVQek5OV1hlbEx2N0V2UEZuX1JzSnh2NE0iLCJ5IjoiemtBVXhvZ1ItYUlhSDlzc0RtRVQ0RzIzeXBPM1FFNTQzSHpOWEtpYVRLayJ9fQ" +
		"..AAECAwQFBgcICQoL." +
		"779I4w8_EwDC2ZQBwBTaeIJH3Fqg3PYGKXLegV_lJ4_nxgD81rBNKPGnGWsTQYvwaoj0rKjYS95KwUmNE8XGRxq6ckFxJZnGrsIEFPMGEV8zHu5hkp9AlQREX-E9dOuWDENyzlH0DCuz3R2ZlXJafNBFmPsxf7JRLNEEiZ8XVy2Z-sVONcei2Ci8uDCS6Yd_O_5iz22fzt0HR8tcUNasmU66PQ-w9ljgzqlyDoZa1l5SSOm-46Kk9bpZA0gBLm01hVm9W1q0oI6Fvc0Ev7h592fohTeIXLdwrhz_F8qOGvyWBIuIFFiC7fTsS3WhoLgcKXGjVK-Y3tp0" +
		".lbDYiL2GSSbASNQKQOK3Jw",
	CEK:       "265e3e9084ddc99fd31784ab4c48fc5d9b5ace7c4681d017d71f396bb4e2399b",
	Plaintext: `{"https://identity.mozilla.com/apps/oldsync":{"kid":"1510726317123-IqQv4onc7VcVE1kTQkyyOw","k":"DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang","kty":"oct","scope":"https://identity.mozilla.com/apps/oldsync"}}`,
}
