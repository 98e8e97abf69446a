// The app's screens and the hash routes that select them (#/profiles, #/settings, …).

export const screens = [
  { id: "profiles", label: "Email Profiles" },
  { id: "actions", label: "Email Actions" },
  { id: "results", label: "Results" },
  { id: "tracking", label: "Message Tracking" },
  { id: "settings", label: "Settings" },
] as const;

export type ScreenId = (typeof screens)[number]["id"];

export const defaultScreen: ScreenId = "profiles";

/** The screen a location hash names; anything unknown falls back to the default screen. */
export function screenFromHash(hash: string): ScreenId {
  const id = hash.replace(/^#\/?/, "").split(/[/?]/, 1)[0];
  return screens.find((s) => s.id === id)?.id ?? defaultScreen;
}

export function hashFor(screen: ScreenId): string {
  return `#/${screen}`;
}
