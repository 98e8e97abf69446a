// The colour theme: "system" follows the OS; "light" and "dark" override it.
import type { Theme } from "./ipc/bindings";

export type Effective = "light" | "dark";

export function effectiveTheme(theme: Theme, osPrefersDark: boolean): Effective {
  if (theme === "system") return osPrefersDark ? "dark" : "light";
  return theme;
}

/** Marks the document with the effective theme so app.css picks the palette. */
export function applyTheme(root: HTMLElement, theme: Theme, osPrefersDark: boolean): void {
  root.dataset.theme = effectiveTheme(theme, osPrefersDark);
}
