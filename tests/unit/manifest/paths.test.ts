import { describe, expect, it } from 'vitest'
import { assertNoPathConflicts, assertSafeRelativePath, foldPath } from '../../../src/manifest/paths.js'
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
    ['a/'.repeat(2100) + 'b'],
    // our state folder and git's, in any letter case and at any depth
    ['.P2PWEIGHTS/have'],
    ['.P2pWeights'],
    ['a/.p2pweights'],
    ['a/.p2pweights/x'],
    ['.git/config'],
    ['.GIT/hooks/post-checkout'],
    ['sub/.git/hooks/pre-commit'],
    ['.git'],
    // C1 controls, line separators, bidi controls (a name that prints as another)
    ['a\u0085b'],
    ['a\u009bb'],
    ['a\u2028b'],
    ['evil\u202egnp.exe'],
    ['a\u202ab'],
    ['a\u2066b\u2069'],
    ['a\u200fb'],
    ['a\u200eb'],
    ['a\u061cb'],
    ['a\ud800b'],
    // Windows device names, with any extension and in any case, at any depth
    ['CON'],
    ['con'],
    ['PRN.txt'],
    ['aux.tar.gz'],
    ['sub/NUL'],
    ['Nul.json'],
    ['COM1'],
    ['com9.bin'],
    ['COM¹'],
    ['LPT1'],
    ['lpt5.log'],
    ['dir/CONIN$'],
    // Windows-forbidden characters (":" opens an NTFS alternate data stream) and trailing dot/space
    ['model.bin:stream'],
    ['a<b'],
    ['a>b'],
    ['a"b'],
    ['a|b'],
    ['a?b'],
    ['a*b'],
    ['trailing.'],
    ['trailing '],
    ['dir./x'],
    ['dir /x']
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
    ['x.p2pweights'],
    ['modèle/poids.bin'],
    ['模型/权重.safetensors'],
    ['emoji/🦙.gguf'],
    ['with space/and-dash_underscore.bin'],
    ['x'.repeat(255)],
    // near misses of the reserved names are ordinary names
    ['.gitignore'],
    ['git/config'],
    ['a/.github/workflows/ci.yml'],
    ['console.txt'],
    ['com10.bin'],
    ['lpt.bin'],
    ['auxiliary/x'],
    ['CONFIG.json'],
    ['.hidden'],
    ['a.b.c'],
    ['العربية/ملف.bin'],
    ['\u05e2\u05d1\u05e8\u05d9\u05ea.txt']
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

  it.each([
    [['A.bin', 'a.bin']],
    [['Model/Weights.BIN', 'model/weights.bin']],
    [['\u00e9.bin', 'e\u0301.bin']], // NFC and NFD spellings of é.bin
    [['caf\u00e9/x', 'CAFE\u0301/x']],
    [['stra\u00dfe', 'STRASSE']], // ß folds to ss
    [['README', 'readme/x']], // a file and a folder that differ only by case
    [['dir/x', 'DIR']]
  ])('rejects names that collide on case- or normalisation-insensitive file systems: %j', async (paths) => {
    expect((await errorOf(() => assertNoPathConflicts(paths))).name).toBe('UnsafePathError')
  })

  it('accepts folders that differ only by case (they merge, nothing is overwritten)', () => {
    expect(() => assertNoPathConflicts(['A/x.bin', 'a/y.bin'])).not.toThrow()
  })
})

describe('foldPath', () => {
  it('maps NFC, NFD and letter case to one form', () => {
    expect(foldPath('\u00c9t\u00e9.BIN')).toBe(foldPath('E\u0301te\u0301.bin'))
    expect(foldPath('a.bin')).not.toBe(foldPath('b.bin'))
  })
})
