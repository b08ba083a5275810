/**
 * JSON.parse keeps the last of duplicate keys silently. This scan finds the first key that appears twice in
 * one object of a text that JSON.parse has already accepted, so ambiguous headers can be refused.
 */
export function duplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // a set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack.at(-1) !== null && stack.length > 0;
    }
  }
  return undefined;
}
