"""The `fashion-pipeline` package: the same package `--setup_file` ships to Dataflow workers.

Version ranges here say what the code needs; `requirements.lock` pins the set that was tested.
"""
import setuptools

setuptools.setup(
    name='fashion-pipeline',
    version='0.1.0',
    description='Beam + TFDV + Keras pipelines that keep a fashion catalog\'s categories right from its images',
    packages=setuptools.find_packages(include=['pipelines', 'pipelines.*', 'trainer', 'trainer.*', 'schemas']),
    package_data={'schemas': ['*.json', '*.pbtxt', '*.csv'], 'pipelines.review': ['templates/*.html', 'static/*']},
    python_requires='>=3.10,<3.12',
    install_requires=[
        'apache-beam[gcp]>=2.63,<2.68',
        'tensorflow>=2.16,<2.17',
        'tensorflow-data-validation>=1.16,<1.17',
        'tfx-bsl>=1.16,<1.17',
        'tensorflow-hub>=0.16,<0.17',
        'pandas<2',
        'pyarrow<11',
        'numpy<2',
        'scikit-learn',
        'pillow',
        'matplotlib',
        'plotly',
        'scipy',
        'flask>=3,<4',
        'requests>=2.31',  # Label Studio's REST API (pipelines/review/label_studio_api.py)
        'cleanlab>=2.9,<3',  # confident learning: the audit's label issues and noise estimate
    ],
    extras_require={'serve': ['gunicorn>=23']},  # the review app for a team (docs/operations.md)
    entry_points={'console_scripts': ['fashion-pipeline=pipelines.cli:main']},
)
