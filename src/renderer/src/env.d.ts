/// <reference types="vite/client" />
import type { WorkbenchApi } from '../../shared/api';

declare global {
  interface Window {
    /** Exposed by the Electron preload; absent in a plain browser (serve mode). */
    workbench?: WorkbenchApi;
  }
}

export {};
