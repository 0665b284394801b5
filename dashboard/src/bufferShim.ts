// The one Buffer API the shared ACL code uses (topic and filter length limits), for the browser.
const encoder = new TextEncoder();
export const Buffer = { byteLength: (text: string): number => encoder.encode(text).length };
