import { describe, expect, it } from 'vitest'
import { fnmatch, pathFilter, selectFiles } from '../../../src/manifest/select.js'
import { errorOf, manifestOf } from '../helpers.js'

const PATHS = [
  '.gitattributes', 'README.md', 'config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors',
  'model.safetensors.index.json', 'gguf/model-Q4_K_M.gguf', 'gguf/model-Q8_0.gguf', 'onnx/model.onnx', 'onnx/sub/x.onnx'
]

function kept (include?: string[], exclude?: string[]): string[] {
  return PATHS.filter(pathFilter({ include, exclude }))
}

describe('fnmatch semantics (as Python fnmatch.fnmatchcase)', () => {
  it.each([
    ['*.json', 'config.json', true],
    ['*.json', 'a/b/config.json', true], // * crosses /
    ['?.bin', 'a.bin', true],
    ['?.bin', 'ab.bin', false],
    ['[ab].bin', 'b.bin', true],
    ['[!ab].bin', 'b.bin', false],
    ['[!ab].bin', 'c.bin', true],
    ['[a-c]x', 'bx', true],
    ['[]]x', ']x', true],
    ['[x', '[x', true], // an unclosed [ is a literal
    ['a.b', 'axb', false], // . is literal
    ['a+b', 'a+b', true],
    ['(x)|y', '(x)|y', true],
    ['*.JSON', 'config.json', false] // case-sensitive
  ])('%s vs %s -> %s', (pattern, path, expected) => {
    expect(fnmatch(pattern, path)).toBe(expected)
  })

  it.each([
    ['*', ''], ['*', 'a/b'], ['a*', 'a'], ['*a', 'ba'], ['a*b*c', 'axxbyyc'], ['**x', 'ax'], ['a?c*', 'abcdef'], ['[0-9][0-9]', '42'], ['[a-]', '-']
  ])('%s matches %s', (pattern, path) => {
    expect(fnmatch(pattern, path)).toBe(true)
  })

  it.each([
    ['a*b*c', 'axxbyy'], ['?', ''], ['*a', 'ab'], ['[0-9]', 'x'], ['abc', 'abcd'], ['abc', 'ab']
  ])('%s does not match %s', (pattern, path) => {
    expect(fnmatch(pattern, path)).toBe(false)
  })

  it('a pattern of many stars against a long hostile path answers at once (no regex backtracking)', () => {
    // A backtracking regex (^.*a.*a…b$) needs on the order of n^k steps here.
    const path = 'a'.repeat(4000)
    expect(fnmatch(`${'*a'.repeat(40)}*b`, path)).toBe(false)
    expect(fnmatch(`${'*a'.repeat(40)}*`, path)).toBe(true)
  })
})

describe('pathFilter (hf download --include/--exclude)', () => {
  it('keeps everything without patterns', () => {
    expect(kept()).toEqual(PATHS)
  })

  it('include keeps matching files only', () => {
    expect(kept(['*.json'])).toEqual(['config.json', 'model.safetensors.index.json'])
  })

  it('several includes are a union', () => {
    expect(kept(['*.json', '*Q4_K_M*'])).toEqual(['config.json', 'model.safetensors.index.json', 'gguf/model-Q4_K_M.gguf'])
  })

  it('exclude applies after include', () => {
    expect(kept(['*.json'], ['*index*'])).toEqual(['config.json'])
    expect(kept(undefined, ['*.gguf', 'onnx/'])).toEqual(PATHS.slice(0, 6))
  })

  it('a pattern ending in / means everything under that folder', () => {
    expect(kept(['onnx/'])).toEqual(['onnx/model.onnx', 'onnx/sub/x.onnx'])
  })
})

describe('selectFiles', () => {
  const manifest = manifestOf(PATHS.map((path, i) => ({ path, bytes: new Uint8Array([i]) })))

  it('gives file indexes, or undefined for all', () => {
    expect(selectFiles(manifest, {})).toBeUndefined()
    expect(selectFiles(manifest, { include: ['*'] })).toBeUndefined()
    expect([...selectFiles(manifest, { include: ['gguf/*Q8*'] }) ?? []]).toEqual([7])
  })

  it('refuses a selection that keeps nothing, with a named error', async () => {
    expect((await errorOf(() => selectFiles(manifest, { include: ['*.bin'] }))).name).toBe('NoFilesSelectedError')
  })

  it('bounds patterns', async () => {
    expect((await errorOf(() => selectFiles(manifest, { include: Array(65).fill('*') }))).name).toBe('InvalidManifestError')
    expect((await errorOf(() => selectFiles(manifest, { include: ['x'.repeat(1025)] }))).name).toBe('InvalidManifestError')
  })
})
