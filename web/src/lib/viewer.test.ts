import { describe, expect, it } from 'vitest';
import {
  activePreset,
  firstTiles,
  magnificationPresets,
  magnificationText,
  normaliseRotation,
  outOfReach,
  parseDzi,
  presetAt,
  presetsFor,
  viewerKeyAction,
  zoomPresets,
} from './viewer';

describe('viewerKeyAction', () => {
  it('maps the viewer keys', () => {
    expect(viewerKeyAction({ key: 'f' }, false)).toEqual({ kind: 'fullscreen' });
    expect(viewerKeyAction({ key: 'Escape' }, true)).toEqual({ kind: 'exit-fullscreen' });
    expect(viewerKeyAction({ key: 'Escape' }, false)).toBeNull();
    expect(viewerKeyAction({ key: 'r' }, false)).toEqual({ kind: 'rotate', degrees: 90 });
    expect(viewerKeyAction({ key: 'R', shiftKey: true }, false)).toEqual({ kind: 'rotate', degrees: -90 });
    expect(viewerKeyAction({ key: 'ArrowRight' }, false)).toEqual({ kind: 'pan', dx: 0.1, dy: 0 });
    expect(viewerKeyAction({ key: 'ArrowUp', shiftKey: true }, false)).toEqual({ kind: 'pan', dx: 0, dy: -0.4 });
    expect(viewerKeyAction({ key: '+' }, false)).toEqual({ kind: 'zoom', factor: 1.5 });
    expect(viewerKeyAction({ key: '-' }, false)).toEqual({ kind: 'zoom', factor: 1 / 1.5 });
    expect(viewerKeyAction({ key: '0' }, false)).toEqual({ kind: 'fit' });
    expect(viewerKeyAction({ key: '1' }, false)).toEqual({ kind: 'preset', index: 0 });
    expect(viewerKeyAction({ key: '6' }, false)).toEqual({ kind: 'preset', index: 5 });
    expect(viewerKeyAction({ key: '7' }, false)).toBeNull();
  });
  it('leaves browser shortcuts and other keys alone', () => {
    expect(viewerKeyAction({ key: 'f', ctrlKey: true }, false)).toBeNull();
    expect(viewerKeyAction({ key: 'r', metaKey: true }, false)).toBeNull();
    expect(viewerKeyAction({ key: 'x' }, false)).toBeNull();
  });
});

describe('rotation and presets', () => {
  it('normalises rotation', () => {
    expect([0, 90, -90, 360, 450, -270].map(normaliseRotation)).toEqual([0, 90, 270, 0, 90, 90]);
  });
  it('offers the zoom levels between the fitted view and the maximum', () => {
    expect(zoomPresets(0.1, 2).map((p) => p.label)).toEqual(['Fit', '1:4', '1:2', '1:1', '2:1']);
    expect(zoomPresets(0.4, 2).map((p) => p.label)).toEqual(['Fit', '1:2', '1:1', '2:1']);
    // 1:1 always (the full resolution), even for an image smaller than the view.
    expect(zoomPresets(1.5, 2).map((p) => p.label)).toEqual(['Fit', '1:1', '2:1']);
    expect(zoomPresets(null, 1).map((p) => p.label)).toEqual(['Fit', '1:4', '1:2', '1:1']);
  });
  it('numbers the presets for the keys: Fit is 0, the others 1, 2, …', () => {
    const presets = zoomPresets(0.1, 2);
    expect(presets.map((p) => p.key)).toEqual(['0', '1', '2', '3', '4']);
    expect(presetAt(presets, 2)?.label).toBe('1:1');
    expect(presetAt(presets, 4)).toBeNull();
    expect(presets[3]?.title).toMatch(/\(key 3\)$/);
  });
  it('offers magnifications on a slide that gives its objective, up to twice the objective', () => {
    const at20 = magnificationPresets(20, 2);
    expect(at20.map((p) => p.label)).toEqual(['Fit', '1×', '2×', '5×', '10×', '20×', '40×']);
    // 10× on a 20× scan: one screen pixel for two pixels of the slide.
    expect(at20.find((p) => p.label === '10×')?.zoom).toBeCloseTo(0.5, 9);
    expect(at20.find((p) => p.label === '40×')?.zoom).toBeCloseTo(2, 9);
    expect(presetAt(at20, 3)?.label).toBe('10×');
    expect(magnificationPresets(10, 2).map((p) => p.label)).toEqual(['Fit', '1×', '2×', '5×', '10×', '20×']);
    expect(magnificationPresets(40, 2).map((p) => p.label)).toEqual(['Fit', '1×', '2×', '5×', '10×', '20×', '40×']);
    // The viewer's own limit (2:1) comes first: 40× on a 10× scan would be 4:1.
    expect(magnificationPresets(10, 1).map((p) => p.label)).toEqual(['Fit', '1×', '2×', '5×', '10×']);
    // Without an objective, zoom levels.
    expect(presetsFor(null, 0.1, 2).map((p) => p.label)).toEqual(['Fit', '1:4', '1:2', '1:1', '2:1']);
    expect(presetsFor(20, 0.1, 2).map((p) => p.label)[4]).toBe('10×');
  });
  it('knows which presets the view cannot reach, and names the magnification shown', () => {
    const [, one, , five] = magnificationPresets(20, 2);
    expect(outOfReach(one as never, 0.15)).toBe(true);
    expect(outOfReach(five as never, 0.15)).toBe(false);
    expect(outOfReach(one as never, null)).toBe(false);
    expect(magnificationText(0.5, 20)).toBe('10×');
    expect(magnificationText(0.123, 20)).toBe('2.5×');
    expect(magnificationText(0.5, null)).toBeNull();
  });
  it('knows which preset is shown', () => {
    const presets = zoomPresets(0.1, 2);
    expect(activePreset(presets, 0.1, true)).toBe('Fit');
    expect(activePreset(presets, 1.01, false)).toBe('1:1');
    expect(activePreset(presets, 0.7, false)).toBeNull();
  });
});

describe('fetching ahead', () => {
  const xml = '<?xml version="1.0"?><Image xmlns="http://schemas.microsoft.com/deepzoom/2008" TileSize="254" Overlap="1" Format="jpeg"><Size Width="2048" Height="1536"/></Image>';
  it('reads the descriptor', () => {
    expect(parseDzi(xml)).toEqual({ width: 2048, height: 1536, tileSize: 254, overlap: 1, format: 'jpeg' });
    expect(parseDzi('<html></html>')).toBeNull();
  });
  it('lists the first level the viewer shows', () => {
    // 2048 px: level 11 is full size, level 9 is 512 × 384: 3 × 2 tiles of 254 px.
    expect(firstTiles(parseDzi(xml) as NonNullable<ReturnType<typeof parseDzi>>)).toEqual(['9/0_0.jpeg', '9/0_1.jpeg', '9/1_0.jpeg', '9/1_1.jpeg', '9/2_0.jpeg', '9/2_1.jpeg']);
    expect(firstTiles({ width: 100, height: 50, tileSize: 254, overlap: 1, format: 'png' })).toEqual(['7/0_0.png']);
  });
});
