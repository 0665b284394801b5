/** Names an operator gives things (rule sets, identity providers): safe in URLs, logs and CLI args. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
export const NAME_RULE = 'use 1-100 letters, digits, and . _ : -';
