import { describe, expect, it } from 'vitest';
import { activePreset, firstTiles, normaliseRotation, parseDzi, viewerKeyAction, zoomPresets } from './viewer';

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
    expect(viewerKeyAction({ key: '1' }, false)).toEqual({ kind: 'actual' });
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
