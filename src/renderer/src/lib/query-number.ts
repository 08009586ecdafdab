/** Numbers for capture queries (find, copy): unique in this page, which the engine scopes them to. */
let next = 1;

export function nextQueryNumber(): number {
  return next++;
}
