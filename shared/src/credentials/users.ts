// What a user id and an email must be, wherever one enters: a mint request, an identity provider's
// claims, the dashboard's explainer. A user id becomes a ${user_id} topic placeholder value and is
// printed by the CLI and the dashboard, so it holds no topic syntax, no control characters and no
// bidirectional overrides (which would disguise it on an operator's screen).
import { isWellFormedText } from '../text.js';

const USER_ID_MAX = 256;
const USER_ID_FORBIDDEN = /[/+#\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const EMAIL_MAX = 320;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;

export const USER_ID_RULE = `1-${USER_ID_MAX} characters of well-formed Unicode without '/', '+', '#', control characters, bidirectional overrides or a leading '$'`;

export const isValidUserId = (id: string): boolean =>
  id.length >= 1 && id.length <= USER_ID_MAX && !USER_ID_FORBIDDEN.test(id) && !id.startsWith('$') && isWellFormedText(id);

export const isEmailAddress = (s: string): boolean => s.length <= EMAIL_MAX && EMAIL_PATTERN.test(s) && isWellFormedText(s);
