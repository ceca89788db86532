package onepw

// Vector is one known-answer case of the accounts crypto, shared by this
// package's tests and by the tests that check other implementations (the
// page's JavaScript inside Firefox, scripted clients) against Go. Byte
// strings are lowercase hex; K and KID are as OldSyncKey returns them.
// Empty fields are not part of the case.
type Vector struct {
	// Name says where the case comes from.
	Name string
	// Email and Password are the user's input; ClientSalt is the full
	// v2 salt string served by credentials/status ("" for a v1 case,
	// whose salt is NS+"quickStretch:"+Email).
	Email, Password, ClientSalt string
	// QuickStretchedPW, AuthPW and UnwrapBKey follow from the above.
	QuickStretchedPW, AuthPW, UnwrapBKey string
	// KB with KeysChangedAt (ms) gives the oldsync key K and its KID.
	KB            string
	KeysChangedAt int64
	K, KID        string
	// KeyFetchToken expands (DeriveToken) to KeyRequestKey; with KA and
	// WrapKb that gives Bundle (KeysBundle).
	KeyFetchToken, KeyRequestKey string
	KA, WrapKb, Bundle           string
}

// Vectors is the table of known answers; see each Name for its source.
var Vectors = []Vector{
	{
		Name:          "gecko test_keys.js oldsync",
		KB:            "eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9",
		KeysChangedAt: 1510726317123,
		K:             "DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang",
		KID:           "1510726317123-IqQv4onc7VcVE1kTQkyyOw",
	},
}
