/**
 * Vite's `?inline` import (electron-vite builds the main process with Vite): the file as a
 * `data:` URL compiled into the bundle. The app icon travels this way, so the window has it in a
 * development run and in a packaged app alike, with no file to ship or find at runtime.
 */
declare module '*.png?inline' {
  const dataUrl: string;
  export default dataUrl;
}
