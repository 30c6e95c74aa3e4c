import { describe, expect, it } from 'vitest'
import { assertNoPathConflicts, assertSafeRelativePath } from '../../../src/manifest/paths.js'
import { errorOf } from '../helpers.js'

async function rejected (path: string): Promise<string> {
  return (await errorOf(() => assertSafeRelativePath(path))).name
}

describe('assertSafeRelativePath', () => {
  it.each([
    ['..'],
    ['../x'],
    ['a/../../x'],
    ['a/..'],
    ['.'],
    ['./a'],
    ['a/./b'],
    ['/etc/passwd'],
    ['/'],
    ['C:/x'],
    ['c:x'],
    ['a\\b'],
    ['..\\x'],
    ['a\u0000b'],
    ['a\nb'],
    ['a\rb'],
    ['a\tb'],
    ['a\u001fb'],
    ['a\u007fb'],
    [''],
    ['a//b'],
    ['a/'],
    ['.p2pweights'],
    ['.p2pweights/have'],
    ['a/' + 'x'.repeat(256)],
    ['a/'.repeat(2100) + 'b']
  ])('rejects %j with UnsafePathError', async (path) => {
    expect(await rejected(path)).toBe('UnsafePathError')
  })

  it('rejects values that are not strings', async () => {
    expect(await rejected(undefined as any)).toBe('UnsafePathError')
    expect(await rejected(42 as any)).toBe('UnsafePathError')
  })

  it.each([
    ['config.json'],
    ['a/b/c/model-00001-of-00002.safetensors'],
    ['.gitattributes'],
    ['..hidden'],
    ['a/.p2pweights'],
    ['x.p2pweights'],
    ['modèle/poids.bin'],
    ['模型/权重.safetensors'],
    ['emoji/🦙.gguf'],
    ['with space/and-dash_underscore.bin'],
    ['x'.repeat(255)]
  ])('accepts %j', (path) => {
    expect(() => assertSafeRelativePath(path)).not.toThrow()
  })
})

describe('assertNoPathConflicts', () => {
  it('accepts siblings and shared prefixes that are not folders', () => {
    expect(() => assertNoPathConflicts(['a/b', 'a/c', 'ab', 'a.b/c', 'b'])).not.toThrow()
  })

  it('rejects duplicates and file/folder clashes', async () => {
    expect((await errorOf(() => assertNoPathConflicts(['a', 'a']))).name).toBe('UnsafePathError')
    expect((await errorOf(() => assertNoPathConflicts(['a', 'a/b']))).name).toBe('UnsafePathError')
    expect((await errorOf(() => assertNoPathConflicts(['a/b/c', 'a/b']))).name).toBe('UnsafePathError')
    expect((await errorOf(() => assertNoPathConflicts(['x/y', 'a/b/c', 'a']))).name).toBe('UnsafePathError')
  })
})
