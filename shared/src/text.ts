// Strings that arrive as JSON (`"\ud800"`) can hold lone UTF-16 surrogates, which UTF-8 cannot: they
// are written to SQLite and the MQTT wire as U+FFFD, so two different user ids (or topics) would be
// stored, expanded into `${user_id}` and matched as one, and each user would receive the other's
// messages. Such text is refused wherever an id, an e-mail or a topic enters. Strings from the MQTT
// wire arrive decoded by mqtt-packet, which turns ill-formed UTF-8 into U+FFFD: a replacement
// character is refused there too (ill-formed UTF-8 is a Malformed Packet, MQTT-1.5.4-1), so a
// client id or topic that is a real U+FFFD is refused with them.

/** Whether `s` is well-formed Unicode: no lone surrogate (String.prototype.isWellFormed, Node 20). */
export const isWellFormedText = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Text that is well-formed and holds no U+FFFD (what ill-formed UTF-8 on the wire decodes to). */
export const isWellFormedWireText = (s: string): boolean => isWellFormedText(s) && !s.includes('\uFFFD');
