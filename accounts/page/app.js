// The sign-in page's conversation with Firefox and the accounts API.
import * as kc from "/crypto.js";
