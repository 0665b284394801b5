// Strings that arrive as JSON (`"\ud800"`) can hold lone UTF-16 surrogates, which UTF-8 cannot: they
// are written to SQLite and the MQTT wire as U+FFFD, so two different user ids (or topics) would be
// stored, expanded into `${user_id}` and matched as one, and each user would receive the other's
// messages. Such text is refused wherever an id, an e-mail or a topic enters.

/** Whether `s` is well-formed Unicode: no lone surrogate (String.prototype.isWellFormed, Node 20). */
export const isWellFormedText = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
